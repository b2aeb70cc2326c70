// Package connfile reads the connection files `worker import` takes: one
// JSON object, an array of objects, or JSON Lines. It validates every record
// before anything is written, so that a bad file changes nothing.
package connfile

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode"
	"unicode/utf16"
	"unicode/utf8"

	"github.com/tokenwarden/tokenwarden/internal/provider"
	"github.com/tokenwarden/tokenwarden/internal/store"
	"github.com/tokenwarden/tokenwarden/pkg/model"
)

// Record is one connection as written in a file.
type Record struct {
	Name     string  `json:"name"`
	Provider *string `json:"provider"`
	TokenURL *string `json:"token_url"`
	// AuthorizeURL is a generic oauth2 connection's authorization
	// endpoint, so that it can be reconnected in a browser (the console's
	// reconnect, `worker authorize`); a template's is used otherwise.
	AuthorizeURL *string `json:"authorize_url"`
	ClientID     *string `json:"client_id"`
	ClientSecret *string `json:"client_secret"`
	Scopes       *string `json:"scopes"`
	AuthStyle    *string `json:"auth_style"`
	// Grant is how the worker obtains the next token: refresh_token (the
	// default), client_credentials, jwt_bearer or github_app (for these
	// two client_secret holds the PEM private key), which need no refresh
	// token.
	Grant        *string  `json:"grant"`
	AccessToken  *string  `json:"access_token"`
	RefreshToken *string  `json:"refresh_token"`
	ExpiresAt    *string  `json:"expires_at"`
	ExpiresIn    *float64 `json:"expires_in"`
	// Params are provider parameters: {tenant} of a Microsoft token URL,
	// app_id, target_org_id and token_manager of a Webex service app,
	// lifetime of a Salesforce session.
	Params map[string]any `json:"params"`
	// Status is the connection's status (active, needs_reauth, disabled),
	// as `worker export` writes it; left out, new tokens make the
	// connection active and an existing one keeps its status.
	Status *string `json:"status"`
	// Fields of a provider's token response, accepted so that a saved
	// response can be imported as it is, and ignored.
	TokenType             any `json:"token_type"`
	Scope                 any `json:"scope"`
	IDToken               any `json:"id_token"`
	RefreshTokenExpiresIn any `json:"refresh_token_expires_in"`

	raw []byte // the record's bytes in the file
}

// Parse reads and validates every record in r. now anchors expires_in.
// It holds every row; `worker import` streams them through a Reader.
func Parse(r io.Reader, cat *provider.Catalogue, now time.Time) ([]store.ImportRow, error) {
	rd := NewReader(r, cat, now)
	var rows []store.ImportRow
	for {
		row, err := rd.Next()
		if errors.Is(err, io.EOF) {
			return rows, nil
		}
		if err != nil {
			return nil, err
		}
		rows = append(rows, row)
	}
}

// Reader reads the records of a file one at a time and validates each as
// it comes, so that memory stays bounded whatever the file's size. Only
// the names read so far are kept, to refuse a name that appears twice.
type Reader struct {
	in    *errReader
	br    *bufio.Reader
	dec   *json.Decoder
	cat   *provider.Catalogue
	now   time.Time
	n     int            // records read
	seen  map[string]int // name → the record it first appeared in
	array bool           // the input is one JSON array
	begun bool
	err   error // sticky: io.EOF at the end, or the first error
}

// NewReader returns a Reader of r. now anchors expires_in.
func NewReader(r io.Reader, cat *provider.Catalogue, now time.Time) *Reader {
	in := &errReader{r: r}
	br := bufio.NewReaderSize(in, 256<<10)
	return &Reader{in: in, br: br, dec: json.NewDecoder(br), cat: cat, now: now, seen: map[string]int{}}
}

// Records returns how many records have been read.
func (rd *Reader) Records() int { return rd.n }

// Next returns the next record's row, io.EOF after the last one, or an
// error naming the record. An input without records is an error.
func (rd *Reader) Next() (store.ImportRow, error) {
	if rd.err != nil {
		return store.ImportRow{}, rd.err
	}
	row, err := rd.next()
	if err != nil {
		if rd.in.err != nil {
			err = fmt.Errorf("read: %w", rd.in.err)
		}
		if errors.Is(err, io.EOF) && rd.n == 0 {
			err = errors.New("no connections in the input")
		}
		rd.err = err
	}
	return row, err
}

func (rd *Reader) next() (store.ImportRow, error) {
	if !rd.begun {
		rd.begun = true
		if err := rd.begin(); err != nil {
			return store.ImportRow{}, err
		}
	}
	rec, err := rd.record()
	if err != nil {
		return store.ImportRow{}, err
	}
	rd.n++
	row, err := rec.Validate(rd.cat, rd.now)
	if err != nil {
		return row, fmt.Errorf("record %d%s: %w", rd.n, label(rec.Name), err)
	}
	if first, ok := rd.seen[rec.Name]; ok {
		return row, fmt.Errorf("record %d%s: name appears twice (first at record %d)", rd.n, label(rec.Name), first)
	}
	rd.seen[rec.Name] = rd.n
	return row, nil
}

// begin looks at the first byte: an input that starts with [ is one
// array, anything else one object or JSON Lines.
func (rd *Reader) begin() error {
	for {
		c, err := rd.br.ReadByte()
		if err != nil {
			return err // io.EOF: an empty input
		}
		if !isSpace(c) {
			rd.br.UnreadByte() //nolint:errcheck // a byte was just read
			rd.array = c == '['
			break
		}
	}
	if !rd.array {
		return nil
	}
	if _, err := rd.dec.Token(); err != nil { // the [
		return fmt.Errorf("malformed JSON: %s", jsonErr(err))
	}
	return nil
}

func isSpace(c byte) bool { return c == ' ' || c == '\t' || c == '\n' || c == '\r' }

// record reads the next record with the bytes it was read from.
func (rd *Reader) record() (Record, error) {
	var rec Record
	n := rd.n + 1
	if rd.array && !rd.dec.More() {
		// More is false before a stray } or the end of the input too, so
		// ask for the ] itself: anything else is an error.
		if _, err := rd.dec.Token(); err != nil {
			return rec, fmt.Errorf("record %d: malformed JSON: %s", n, jsonErr(err))
		}
		if _, err := rd.dec.Token(); !errors.Is(err, io.EOF) {
			return rec, errors.New("malformed JSON: data after the array")
		}
		return rec, io.EOF
	}
	var raw json.RawMessage
	err := rd.dec.Decode(&raw)
	if errors.Is(err, io.EOF) {
		if rd.array { // after a trailing comma
			return rec, fmt.Errorf("record %d: malformed JSON: %s", n, jsonErr(io.ErrUnexpectedEOF))
		}
		return rec, err
	}
	if err != nil {
		return rec, fmt.Errorf("record %d: malformed JSON: %s", n, jsonErr(err))
	}
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&rec); err != nil {
		return rec, fmt.Errorf("record %d: malformed JSON: %s", n, jsonErr(err))
	}
	rec.raw = raw
	return rec, nil
}

// errReader remembers the error reading the input, which the JSON decoder
// returns as it is, so that it is told apart from a malformed file.
type errReader struct {
	r   io.Reader
	err error
}

func (e *errReader) Read(p []byte) (int, error) {
	n, err := e.r.Read(p)
	if err != nil && !errors.Is(err, io.EOF) {
		e.err = err
	}
	return n, err
}

func label(name string) string {
	if name == "" || len(name) > 100 {
		return ""
	}
	return fmt.Sprintf(" (%q)", name)
}

// jsonErr describes a decoding error without quoting the input, which may
// hold a secret.
func jsonErr(err error) string {
	var se *json.SyntaxError
	var te *json.UnmarshalTypeError
	switch {
	case errors.As(err, &se):
		return fmt.Sprintf("syntax error at byte %d", se.Offset)
	case errors.As(err, &te):
		return fmt.Sprintf("field %q must be a %s, not a %s", te.Field, te.Type.Kind(), te.Value)
	case errors.Is(err, io.ErrUnexpectedEOF), errors.Is(err, io.EOF):
		return "unexpected end of input"
	}
	msg := err.Error()
	if strings.HasPrefix(msg, "json: unknown field ") {
		return "unknown field " + strings.TrimPrefix(msg, "json: unknown field ")
	}
	return "invalid input"
}

// Validate checks one record, as read from a file or built by `worker
// authorize`, and returns the row to import. now anchors expires_in. The
// error never quotes a secret.
func (r *Record) Validate(cat *provider.Catalogue, now time.Time) (store.ImportRow, error) {
	row := store.ImportRow{
		Name: r.Name, Provider: r.Provider, TokenURL: r.TokenURL, AuthorizeURL: r.AuthorizeURL, ClientID: r.ClientID,
		ClientSecret: r.ClientSecret, Scopes: r.Scopes, AuthStyle: r.AuthStyle, Grant: r.Grant,
		AccessToken: r.AccessToken, RefreshToken: r.RefreshToken, Status: r.Status,
	}
	if err := r.checkText(); err != nil {
		return row, err
	}
	if err := checkName(r.Name); err != nil {
		return row, err
	}
	if err := checkSecrets(r); err != nil {
		return row, err
	}
	if r.Provider != nil {
		if _, ok := cat.Lookup(*r.Provider); !ok {
			return row, fmt.Errorf("unknown provider %q (known: %s)", *r.Provider, strings.Join(cat.Names(), ", "))
		}
	}
	if r.TokenURL != nil {
		u, err := url.Parse(*r.TokenURL)
		if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" || u.User != nil {
			return row, errors.New("token_url must be an absolute http(s) URL without credentials")
		}
	}
	if r.AuthorizeURL != nil {
		u, err := url.Parse(*r.AuthorizeURL)
		if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" || u.User != nil || u.Fragment != "" {
			return row, errors.New("authorize_url must be an absolute http(s) URL without credentials or fragment")
		}
	}
	if r.AuthStyle != nil {
		if _, err := provider.ParseAuthStyle(*r.AuthStyle); err != nil {
			return row, err
		}
	}
	if err := r.checkGrant(); err != nil {
		return row, err
	}
	if r.Status != nil && !model.ValidStatus(*r.Status) {
		return row, errors.New("status must be active, needs_reauth or disabled")
	}
	if r.Params != nil {
		b, err := json.Marshal(r.Params)
		if err != nil {
			return row, errors.New("params must be a JSON object")
		}
		p := string(b)
		row.Params = &p
	}
	exp, err := r.expiry(now)
	if err != nil {
		return row, err
	}
	row.AccessTokenExpires = exp
	return row, nil
}

// expiry decides the access token's expiry. expires_in 0 means never, as
// providers use it. With neither field, a token that can be refreshed is
// taken as expired, so the worker refreshes it and learns its real
// lifetime; one that cannot be refreshed is taken as never expiring.
func (r *Record) expiry(now time.Time) (*time.Time, error) {
	switch {
	case r.ExpiresAt != nil && r.ExpiresIn != nil:
		return nil, errors.New("give expires_at or expires_in, not both")
	case r.ExpiresAt != nil:
		t, err := time.Parse(time.RFC3339, *r.ExpiresAt)
		if err != nil {
			return nil, errors.New("expires_at must be an RFC 3339 time such as 2026-01-02T15:04:05Z")
		}
		return &t, nil
	case r.ExpiresIn != nil:
		if *r.ExpiresIn < 0 || *r.ExpiresIn > 10*365*24*3600 {
			return nil, errors.New("expires_in must be a number of seconds between 0 and ten years")
		}
		if *r.ExpiresIn == 0 {
			return nil, nil
		}
		t := now.Add(time.Duration(*r.ExpiresIn * float64(time.Second)))
		return &t, nil
	case r.AccessToken != nil && *r.AccessToken != "" && (r.RefreshToken == nil || *r.RefreshToken == "") && !r.needsNoRefreshToken():
		return nil, nil
	default:
		t := now
		return &t, nil
	}
}

// checkGrant refuses a grant the worker cannot exchange, and a refresh
// token given to a grant that never sends one.
func (r *Record) checkGrant() error {
	if r.Grant == nil {
		return nil
	}
	if !slices.Contains(provider.Grants, *r.Grant) {
		return fmt.Errorf("grant must be one of %s", strings.Join(provider.Grants, ", "))
	}
	if r.needsNoRefreshToken() && r.RefreshToken != nil && *r.RefreshToken != "" {
		return fmt.Errorf("grant %s has no refresh token; leave refresh_token out", *r.Grant)
	}
	if *r.Grant == model.GrantGitHubApp && r.Params != nil && r.Params["app_id"] == nil {
		return errors.New("grant github_app needs params.app_id, the issuer of the app's JWT")
	}
	if r.signsWithKey() && r.ClientSecret != nil {
		return provider.CheckPrivateKey(*r.ClientSecret)
	}
	return nil
}

// signsWithKey reports a grant whose client_secret is a PEM private key.
func (r *Record) signsWithKey() bool {
	return r.Grant != nil && (*r.Grant == model.GrantJWTBearer || *r.Grant == model.GrantGitHubApp)
}

// needsNoRefreshToken reports a grant that obtains each token with the
// connection's own credentials.
func (r *Record) needsNoRefreshToken() bool {
	return r.Grant != nil && *r.Grant != model.GrantRefreshToken
}

func checkName(name string) error {
	if name == "" {
		return errors.New("name is required")
	}
	if len(name) > 200 {
		return errors.New("name is longer than 200 bytes")
	}
	if strings.Contains(name, "/") {
		return errors.New(`name must not contain "/": the token API serves a connection at /v1/tokens/NAME`)
	}
	for _, c := range name {
		// Not printable: control and format characters, such as the
		// bidirectional overrides that make a name read as another one.
		if unicode.IsSpace(c) || !unicode.IsPrint(c) {
			return errors.New("name must not contain spaces, control characters or invisible formatting characters (such as bidirectional overrides)")
		}
	}
	return nil
}

// checkSecrets refuses whitespace anywhere in a token or client credential:
// none has any (RFC 6749 appendix A), and one copied with a line break
// would be sent as it is and refused by the provider, which reads as a
// revoked grant. The value is never quoted.
func checkSecrets(r *Record) error {
	for _, f := range []struct {
		field string
		v     *string
	}{{"client_id", r.ClientID}, {"client_secret", r.ClientSecret}, {"access_token", r.AccessToken}, {"refresh_token", r.RefreshToken}} {
		// A jwt_bearer or github_app connection's client_secret is a PEM
		// private key, lines by nature; checkGrant checks it.
		pemKey := f.field == "client_secret" && r.signsWithKey()
		if f.v != nil && !pemKey && strings.IndexFunc(*f.v, unicode.IsSpace) >= 0 {
			return fmt.Errorf("%s contains whitespace or a line break", f.field)
		}
	}
	return nil
}

// checkText refuses text that is not UTF-8, where it would otherwise be
// stored altered and the token later refused by its provider: in a record
// read from a file, the bytes encoding/json would silently decode as
// U+FFFD; in one built in code (`worker authorize`), its fields.
func (r *Record) checkText() error {
	if err := checkRaw(r.raw); err != nil {
		return err
	}
	for _, f := range []struct {
		field string
		v     *string
	}{{"name", &r.Name}, {"provider", r.Provider}, {"token_url", r.TokenURL}, {"authorize_url", r.AuthorizeURL}, {"client_id", r.ClientID}, {"client_secret", r.ClientSecret},
		{"scopes", r.Scopes}, {"auth_style", r.AuthStyle}, {"grant", r.Grant}, {"access_token", r.AccessToken}, {"refresh_token", r.RefreshToken}} {
		if f.v != nil && !utf8.ValidString(*f.v) {
			return fmt.Errorf("invalid UTF-8 in %s", f.field)
		}
	}
	return nil
}

// checkRaw refuses bytes that are not UTF-8, and \u escapes of a lone
// UTF-16 surrogate, both of which encoding/json decodes as U+FFFD.
func checkRaw(raw []byte) error {
	if i := invalidUTF8(raw); i >= 0 {
		return fmt.Errorf("invalid UTF-8 at byte %d of the record: the file must be UTF-8 text", i)
	}
	// A backslash occurs only inside strings in JSON that decoded, and
	// an escaped backslash is skipped whole.
	for i := 0; i < len(raw)-1; i++ {
		if raw[i] != '\\' {
			continue
		}
		i++
		if raw[i] != 'u' {
			continue
		}
		r := hex4(raw[i+1:])
		i += 4
		switch {
		case !utf16.IsSurrogate(r):
		case r < 0xdc00 && i+6 < len(raw) && raw[i+1] == '\\' && raw[i+2] == 'u' && isLowSurrogate(hex4(raw[i+3:])):
			i += 6 // a valid pair
		default:
			return errors.New("invalid UTF-8: a \\u escape of a lone UTF-16 surrogate")
		}
	}
	return nil
}

// invalidUTF8 returns the offset of the first byte that is not UTF-8, or -1.
func invalidUTF8(b []byte) int {
	for i := 0; i < len(b); {
		r, n := utf8.DecodeRune(b[i:])
		if r == utf8.RuneError && n == 1 {
			return i
		}
		i += n
	}
	return -1
}

// hex4 reads the four hex digits of a \u escape; JSON that decoded has them.
func hex4(b []byte) rune {
	if len(b) < 4 {
		return utf8.RuneError
	}
	v, err := strconv.ParseUint(string(b[:4]), 16, 16)
	if err != nil {
		return utf8.RuneError
	}
	return rune(v)
}

func isLowSurrogate(r rune) bool { return r >= 0xdc00 && r <= 0xdfff }
