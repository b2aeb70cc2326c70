package connfile

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/tokenwarden/tokenwarden/internal/provider"
	"github.com/tokenwarden/tokenwarden/internal/store"
	"github.com/tokenwarden/tokenwarden/pkg/model"
)

// TestParseRefusesWhatCanNeverWork covers records that used to be imported
// and later died as a misleading needs_reauth: each is refused with one line
// naming the record, and no row at all is returned.
func TestParseRefusesWhatCanNeverWork(t *testing.T) {
	t.Parallel()
	const good = `{"name":"good","refresh_token":"rt-SECRET-good"}` + "\n"
	tests := []struct {
		name, bad, want string
	}{
		{"invalid UTF-8 in a refresh token", "{\"name\":\"b\",\"refresh_token\":\"rt-SECRET-\xff\xfe\"}", `record 2 ("b"): invalid UTF-8`},
		{"invalid UTF-8 in a client secret", "{\"name\":\"b\",\"client_secret\":\"cs-SECRET-\xc3\"}", `record 2 ("b"): invalid UTF-8`},
		{"invalid UTF-8 in a name", "{\"name\":\"b\xe2\x82\",\"refresh_token\":\"rt-SECRET\"}", "invalid UTF-8"},
		{"invalid UTF-8 in params", "{\"name\":\"b\",\"params\":{\"tenant\":\"\xff\"}}", `record 2 ("b"): invalid UTF-8`},
		{"invalid UTF-8 in an ignored field", "{\"name\":\"b\",\"id_token\":\"\xff\"}", `record 2 ("b"): invalid UTF-8`},
		{"escaped lone high surrogate", `{"name":"b","refresh_token":"rt-SECRET-\ud800"}`, `record 2 ("b"): invalid UTF-8`},
		{"escaped lone low surrogate", `{"name":"b","access_token":"at-SECRET-\uDC00x"}`, `record 2 ("b"): invalid UTF-8`},
		{"high surrogate before a non-surrogate", `{"name":"b","access_token":"at-SECRET-\ud83d\u0041"}`, `record 2 ("b"): invalid UTF-8`},
		{"right-to-left override in a name", `{"name":"b\u202Egpj.exe","refresh_token":"rt-SECRET"}`, "): name must not contain"},
		{"first strong isolate in a name", "{\"name\":\"b\u2068x\",\"refresh_token\":\"rt-SECRET\"}", "): name must not contain"},
		{"right-to-left mark in a name", "{\"name\":\"b\u200Fx\",\"refresh_token\":\"rt-SECRET\"}", "): name must not contain"},
		{"zero width space in a name", "{\"name\":\"b\u200Bx\",\"refresh_token\":\"rt-SECRET\"}", "): name must not contain"},
		{"byte order mark in a name", "{\"name\":\"\uFEFFb\",\"refresh_token\":\"rt-SECRET\"}", "): name must not contain"},
		{"escape character in a name", `{"name":"b\u001b[31m","refresh_token":"rt-SECRET"}`, "): name must not contain"},
		{"line separator in a name", `{"name":"b\u2028x","refresh_token":"rt-SECRET"}`, "): name must not contain"},
		{"slash in a name", `{"name":"team/b","refresh_token":"rt-SECRET"}`, `record 2 ("team/b"): name must not contain "/"`},
		{"space inside a refresh token", `{"name":"b","refresh_token":"rt-SECRET part2"}`, `record 2 ("b"): refresh_token contains whitespace`},
		{"newline at the end of a refresh token", `{"name":"b","refresh_token":"rt-SECRET\n"}`, `record 2 ("b"): refresh_token contains whitespace`},
		{"tab inside an access token", `{"name":"b","access_token":"at-SECRET\tx"}`, `record 2 ("b"): access_token contains whitespace`},
		{"carriage return in a client secret", `{"name":"b","client_secret":"cs-SECRET\r"}`, `record 2 ("b"): client_secret contains whitespace`},
		{"leading space in a client id", `{"name":"b","client_id":" cid"}`, `record 2 ("b"): client_id contains whitespace`},
		{"no-break space in a refresh token", `{"name":"b","refresh_token":"rt-SECRET\u00a0"}`, `record 2 ("b"): refresh_token contains whitespace`},
		{"unknown status", `{"name":"b","refresh_token":"rt-SECRET","status":"paused"}`, `record 2 ("b"): status must be active, needs_reauth or disabled`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			rows, err := Parse(strings.NewReader(good+tc.bad), provider.NewCatalogue(), testNow)
			if err == nil {
				t.Fatalf("Parse accepted it: %d rows", len(rows))
			}
			if rows != nil {
				t.Errorf("Parse returned %d rows with its error", len(rows))
			}
			msg := err.Error()
			if !strings.HasPrefix(msg, "record 2 (") || !strings.Contains(msg, tc.want) {
				t.Errorf("error %q does not contain %q", msg, tc.want)
			}
			if strings.Contains(msg, "SECRET") || strings.ContainsAny(msg, "\n\r") {
				t.Errorf("error repeats a secret or is not one line: %q", msg)
			}
		})
	}
}

// TestParseRefusesInAnArray checks that a bad record of an array is named by
// its position, as in JSON Lines.
func TestParseRefusesInAnArray(t *testing.T) {
	t.Parallel()
	in := "[{\"name\":\"a\",\"refresh_token\":\"rt-SECRET-a\"},\n {\"name\":\"b\",\"refresh_token\":\"rt-SECRET-\xff\"}]"
	_, err := Parse(strings.NewReader(in), provider.NewCatalogue(), testNow)
	if err == nil || !strings.HasPrefix(err.Error(), `record 2 ("b"): invalid UTF-8`) {
		t.Fatalf("err = %v, want record 2 (\"b\"): invalid UTF-8", err)
	}
}

// TestParseKeepsWhatIsValid checks the new rules refuse nothing real:
// non-ASCII names, surrogate pairs, and spaces where they belong (scopes).
func TestParseKeepsWhatIsValid(t *testing.T) {
	t.Parallel()
	in := `{"name":"café-münchen","refresh_token":"rt-SECRET","scopes":"a b c","params":{"tenant":"t"}}` + "\n" +
		`{"name":"emoji-\ud83d\ude00","access_token":"at-SECRET-\ud83d\ude00","expires_in":0}` + "\n" +
		`{"name":"back\\slash-is-escaped-\\ud800-literally","access_token":"at","expires_in":0}`
	rows, err := Parse(strings.NewReader(in), provider.NewCatalogue(), testNow)
	if err != nil {
		t.Fatalf("Parse: %v", err)
	}
	if len(rows) != 3 || rows[1].Name != "emoji-😀" || *rows[1].AccessToken != "at-SECRET-😀" || rows[2].Name != `back\slash-is-escaped-\ud800-literally` {
		t.Fatalf("rows %+v", rows)
	}
}

func TestCheckEndpoints(t *testing.T) {
	t.Parallel()
	cat := provider.NewCatalogue()
	open := provider.EndpointPolicy{}
	hosts := provider.EndpointPolicy{AllowedHosts: []string{"auth.example.com", "*.microsoftonline.com"}}
	insecure := provider.EndpointPolicy{AllowInsecureHTTP: true}
	rt := strp("rt-SECRET")
	stored := map[string]*model.OAuthToken{
		"ms":       {Name: "ms", Provider: "microsoft", Params: json.RawMessage(`{"tenant":"acme"}`), HasRefreshToken: true},
		"own-url":  {Name: "own-url", Provider: "oauth2", TokenURL: strp("https://auth.example.com/token"), HasRefreshToken: true},
		"plain":    {Name: "plain", Provider: "oauth2", HasRefreshToken: false},
		"http-old": {Name: "http-old", Provider: "oauth2", TokenURL: strp("http://legacy.example.com/token"), HasRefreshToken: true},
	}
	tests := []struct {
		name   string
		policy provider.EndpointPolicy
		row    store.ImportRow
		want   string // "" for accepted
	}{
		{"oauth2 without token_url", open, store.ImportRow{Name: "n", RefreshToken: rt}, "provider oauth2 has no token endpoint of its own: give token_url"},
		{"explicit oauth2 without token_url", open, store.ImportRow{Name: "n", Provider: strp("oauth2"), RefreshToken: rt}, "give token_url"},
		{"oauth2 with token_url", open, store.ImportRow{Name: "n", TokenURL: strp("https://auth.example.com/t"), RefreshToken: rt}, ""},
		{"template's own endpoint", open, store.ImportRow{Name: "n", Provider: strp("google"), RefreshToken: rt}, ""},
		{"access token only is never refreshed", open, store.ImportRow{Name: "n", AccessToken: strp("at-SECRET")}, ""},
		{"http outside loopback", open, store.ImportRow{Name: "n", TokenURL: strp("http://auth.example.com/t"), RefreshToken: rt}, "uses http"},
		{"http outside loopback, allowed", insecure, store.ImportRow{Name: "n", TokenURL: strp("http://auth.example.com/t"), RefreshToken: rt}, ""},
		{"http on loopback", open, store.ImportRow{Name: "n", TokenURL: strp("http://127.0.0.1:9/t"), RefreshToken: rt}, ""},
		{"host outside the list", hosts, store.ImportRow{Name: "n", TokenURL: strp("https://evil.example.net/t"), RefreshToken: rt}, "evil.example.net is not in TOKENS_ALLOWED_TOKEN_HOSTS"},
		{"template's host outside the list", hosts, store.ImportRow{Name: "n", Provider: strp("google"), RefreshToken: rt}, "oauth2.googleapis.com is not in"},
		{"template host with params filled", hosts, store.ImportRow{Name: "n", Provider: strp("microsoft"), Params: strp(`{"tenant":"acme"}`), RefreshToken: rt}, ""},
		{"params filled into the host", hosts, store.ImportRow{Name: "n", TokenURL: strp("https://{sub}.example.org/t"), Params: strp(`{"sub":"x"}`), RefreshToken: rt}, "x.example.org is not in"},
		{"missing parameter", open, store.ImportRow{Name: "n", TokenURL: strp("https://{sub}.example.org/t"), RefreshToken: rt}, `missing parameter "sub"`},
		{"webex service app needs app_id for its app endpoint", open, store.ImportRow{Name: "n", Provider: strp("webex_service_app"), RefreshToken: rt}, `missing parameter "app_id"`},
		{"webex service app's app endpoint is checked", hosts, store.ImportRow{Name: "n", Provider: strp("webex_service_app"), TokenURL: strp("https://auth.example.com/t"),
			Params: strp(`{"app_id":"a","app_token_url":"https://evil.example.net/app"}`), RefreshToken: rt}, "evil.example.net is not in"},
		// Stored connections fill in what the record leaves out.
		{"update of a stored connection", hosts, store.ImportRow{Name: "ms", RefreshToken: rt}, ""},
		{"stored token_url kept", open, store.ImportRow{Name: "own-url", Provider: strp("oauth2"), RefreshToken: rt}, ""},
		{"stored params kept", hosts, store.ImportRow{Name: "ms", Provider: strp("microsoft"), RefreshToken: rt}, ""},
		{"record's params replace the stored", hosts, store.ImportRow{Name: "own-url", TokenURL: strp("https://{t}.example.org/x"), Params: strp(`{"t":"y"}`), RefreshToken: rt}, "y.example.org is not in"},
		{"stored connection gets a refresh token", open, store.ImportRow{Name: "plain", RefreshToken: rt}, "give token_url"},
		{"stored connection without a refresh token", open, store.ImportRow{Name: "plain", ClientSecret: strp("cs-SECRET")}, ""},
		{"stored http endpoint", open, store.ImportRow{Name: "http-old", RefreshToken: rt}, "uses http"},
		{"stored refresh token, new bad endpoint", open, store.ImportRow{Name: "own-url", TokenURL: strp("http://evil.example.net/t")}, "uses http"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			good := store.ImportRow{Name: "good", TokenURL: strp("https://auth.example.com/t"), RefreshToken: rt}
			err := CheckEndpoints(1, []store.ImportRow{good, tc.row}, stored, cat, tc.policy)
			if tc.want == "" {
				if err != nil {
					t.Fatalf("refused: %v", err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err = %v, want %q", err, tc.want)
			}
			if prefix := `record 2 ("` + tc.row.Name + `"): `; !strings.HasPrefix(err.Error(), prefix) {
				t.Errorf("err = %q, want it to start with %q", err, prefix)
			}
			if strings.Contains(err.Error(), "SECRET") || strings.ContainsAny(err.Error(), "\n\r") {
				t.Errorf("error repeats a secret or is not one line: %q", err)
			}
		})
	}
}
