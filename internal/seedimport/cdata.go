package seedimport

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"

	"github.com/jackc/pgx/v5"

	"github.com/tokenwarden/tokenwarden/internal/connfile"
)

// cdataTemplate maps the integrations of seed 000's
// cdata_plugin_oauth_tokens table to provider templates. Both BigQuery
// plugins hold Google tokens.
func cdataTemplate(integration string) (string, bool) {
	switch strings.ToLower(integration) {
	case "salesforce":
		return "salesforce", true
	case "hubspot":
		return "hubspot", true
	case "google_analytics", "validate_bigquery", "run_bigquery":
		return "google", true
	case "xero":
		return "xero", true
	case "mailchimp":
		return "mailchimp", true
	}
	return "", false
}

// cdata reads the cdata_plugin_oauth_tokens table of seed 000. A row's
// name is the prefix (--name, "cdata-" by default) followed by the
// integration in lower case, as the seed's --update takes it. The token
// URL is the row's request_url, or the template's where the seed left it
// empty (MailChimp). The seed keeps client credentials outside the
// table, so they come from --credentials: a JSON object keyed by
// integration. Expiry is not stored, so each connection is refreshed on
// the worker's next pass.
func (o *Options) cdata(ctx context.Context) ([]connfile.Record, error) {
	var creds map[string]clientCredentials
	if err := readJSON("--credentials (client ids and secrets by integration)", o.Credentials, &creds); err != nil {
		return nil, err
	}
	byLower := map[string]clientCredentials{}
	for k, v := range creds {
		byLower[strings.ToLower(k)] = v
	}
	prefix := o.Name
	if prefix == "" {
		prefix = "cdata-"
	}
	var recs []connfile.Record
	err := query(ctx, o.DSN, `SELECT plugin_id::text, integration, coalesce(connection_json::text, ''), coalesce(request_url, '')
		FROM cdata_plugin_oauth_tokens ORDER BY plugin_id`, func(rows pgx.Rows) error {
		var id, integration, conn, tokenURL string
		if err := rows.Scan(&id, &integration, &conn, &tokenURL); err != nil {
			return err
		}
		tmpl, ok := cdataTemplate(integration)
		if !ok {
			return fmt.Errorf("plugin %s: unknown integration %q (known: Salesforce, Hubspot, Google_Analytics, Xero, MailChimp, Validate_Bigquery, Run_Bigquery)", id, integration)
		}
		tok, err := connectionJSON(conn)
		if err != nil {
			return fmt.Errorf("plugin %s: %w", id, err)
		}
		cc := byLower[strings.ToLower(integration)]
		recs = append(recs, connfile.Record{
			Name: prefix + strings.ToLower(integration), Provider: ptr(tmpl), TokenURL: ptr(strings.TrimSpace(tokenURL)),
			ClientID: ptr(cc.ClientID), ClientSecret: ptr(cc.ClientSecret),
			AccessToken: ptr(tok.AccessToken), RefreshToken: ptr(tok.RefreshToken),
		})
		return nil
	})
	return recs, err
}

// connectionJSON reads a connection_json value: JSON, or the Python
// dict literal the seed's document shows ({'access_token': '…'}), whose
// strings are single-quoted.
func connectionJSON(s string) (tokenPair, error) {
	var tok tokenPair
	if json.Unmarshal([]byte(s), &tok) == nil {
		return tok, nil
	}
	if strings.Contains(s, `"`) {
		return tok, fmt.Errorf("connection_json is neither JSON nor a Python dict of strings")
	}
	var b strings.Builder
	for _, c := range s {
		if c == '\'' {
			b.WriteByte('"')
			continue
		}
		b.WriteRune(c)
	}
	if err := json.Unmarshal([]byte(b.String()), &tok); err != nil {
		return tok, fmt.Errorf("connection_json is neither JSON nor a Python dict of strings")
	}
	return tok, nil
}
