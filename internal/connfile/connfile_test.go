package connfile

import (
	"errors"
	"io"
	"strings"
	"testing"
	"testing/iotest"
	"time"

	"github.com/tokenwarden/tokenwarden/internal/provider"
	"github.com/tokenwarden/tokenwarden/internal/store"
)

var testNow = time.Date(2026, 3, 4, 5, 6, 7, 0, time.UTC)

func strp(s string) *string { return &s }

func timep(t time.Time) *time.Time { return &t }

// full is a complete record whose secrets all carry "SECRET".
const full = `{"name":"acme","provider":"oauth2","token_url":"https://auth.example.com/token",` +
	`"client_id":"cid","client_secret":"cs-SECRET-1","scopes":"a b","auth_style":"post",` +
	`"access_token":"at-SECRET-1","refresh_token":"rt-SECRET-1","expires_in":3600}`

func TestParse(t *testing.T) {
	t.Parallel()
	acme := store.ImportRow{
		Name: "acme", Provider: strp("oauth2"), TokenURL: strp("https://auth.example.com/token"),
		ClientID: strp("cid"), ClientSecret: strp("cs-SECRET-1"), Scopes: strp("a b"), AuthStyle: strp("post"),
		AccessToken: strp("at-SECRET-1"), RefreshToken: strp("rt-SECRET-1"),
		AccessTokenExpires: timep(testNow.Add(time.Hour)),
	}
	due := func(name string) store.ImportRow {
		return store.ImportRow{Name: name, RefreshToken: strp("rt-SECRET-" + name), AccessTokenExpires: timep(testNow)}
	}
	dueJSON := func(name string) string {
		return `{"name":"` + name + `","refresh_token":"rt-SECRET-` + name + `"}`
	}
	tests := []struct {
		name string
		in   string
		want []store.ImportRow
	}{
		{"one object", full, []store.ImportRow{acme}},
		{"one object with surrounding whitespace", "\n\t " + full + "\n\n", []store.ImportRow{acme}},
		{"array", "[" + full + "," + dueJSON("b") + "]", []store.ImportRow{acme, due("b")}},
		{"array with leading whitespace", "  \n[" + dueJSON("a") + "]\n", []store.ImportRow{due("a")}},
		{"json lines", full + "\n" + dueJSON("b") + "\n" + dueJSON("c") + "\n", []store.ImportRow{acme, due("b"), due("c")}},
		{"json lines with blank lines and CRLF", dueJSON("a") + "\r\n\r\n" + dueJSON("b"), []store.ImportRow{due("a"), due("b")}},
		{"concatenated objects", dueJSON("a") + dueJSON("b"), []store.ImportRow{due("a"), due("b")}},
		{"expires_at", `{"name":"a","access_token":"at-SECRET","refresh_token":"rt-SECRET","expires_at":"2030-01-02T03:04:05+02:00"}`,
			[]store.ImportRow{{Name: "a", AccessToken: strp("at-SECRET"), RefreshToken: strp("rt-SECRET"),
				AccessTokenExpires: timep(time.Date(2030, 1, 2, 1, 4, 5, 0, time.UTC))}}},
		{"expires_in 0 means never", `{"name":"a","access_token":"at-SECRET","refresh_token":"rt-SECRET","expires_in":0}`,
			[]store.ImportRow{{Name: "a", AccessToken: strp("at-SECRET"), RefreshToken: strp("rt-SECRET")}}},
		{"fractional expires_in", `{"name":"a","access_token":"at-SECRET","expires_in":1.5}`,
			[]store.ImportRow{{Name: "a", AccessToken: strp("at-SECRET"), AccessTokenExpires: timep(testNow.Add(1500 * time.Millisecond))}}},
		{"no expiry with a refresh token is due now", `{"name":"a","access_token":"at-SECRET","refresh_token":"rt-SECRET"}`,
			[]store.ImportRow{{Name: "a", AccessToken: strp("at-SECRET"), RefreshToken: strp("rt-SECRET"), AccessTokenExpires: timep(testNow)}}},
		{"no expiry with only an access token never expires", `{"name":"a","access_token":"at-SECRET"}`,
			[]store.ImportRow{{Name: "a", AccessToken: strp("at-SECRET")}}},
		{"no expiry with an empty refresh token never expires", `{"name":"a","access_token":"at-SECRET","refresh_token":""}`,
			[]store.ImportRow{{Name: "a", AccessToken: strp("at-SECRET"), RefreshToken: strp("")}}},
		{"no tokens at all is due now", `{"name":"a","client_secret":"cs-SECRET"}`,
			[]store.ImportRow{{Name: "a", ClientSecret: strp("cs-SECRET"), AccessTokenExpires: timep(testNow)}}},
		{"a saved token response is accepted", `{"name":"a","access_token":"at-SECRET","refresh_token":"rt-SECRET","expires_in":60,` +
			`"token_type":"Bearer","scope":"x y","id_token":"eyJ","refresh_token_expires_in":86400}`,
			[]store.ImportRow{{Name: "a", AccessToken: strp("at-SECRET"), RefreshToken: strp("rt-SECRET"), AccessTokenExpires: timep(testNow.Add(time.Minute))}}},
		{"null fields are absent", `{"name":"a","provider":null,"refresh_token":"rt-SECRET","expires_in":null}`,
			[]store.ImportRow{{Name: "a", RefreshToken: strp("rt-SECRET"), AccessTokenExpires: timep(testNow)}}},
		{"http token_url on loopback", `{"name":"a","token_url":"http://127.0.0.1:8080/token","expires_in":0}`,
			[]store.ImportRow{{Name: "a", TokenURL: strp("http://127.0.0.1:8080/token")}}},
		{"names are case-sensitive", `[{"name":"a","expires_in":0},{"name":"A","expires_in":0}]`,
			[]store.ImportRow{{Name: "a"}, {Name: "A"}}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			got, err := Parse(strings.NewReader(tc.in), provider.NewCatalogue(), testNow)
			if err != nil {
				t.Fatalf("Parse: %v", err)
			}
			if len(got) != len(tc.want) {
				t.Fatalf("got %d rows, want %d: %+v", len(got), len(tc.want), got)
			}
			for i := range got {
				if d := diffRow(got[i], tc.want[i]); d != "" {
					t.Errorf("row %d: %s", i, d)
				}
			}
		})
	}
}

func diffRow(got, want store.ImportRow) string {
	var diffs []string
	str := func(field string, g, w *string) {
		switch {
		case g == nil && w == nil:
		case g == nil || w == nil:
			diffs = append(diffs, field+": one is nil")
		case *g != *w:
			// Values may be secrets in real use; these are test values.
			diffs = append(diffs, field+": "+*g+" != "+*w)
		}
	}
	tm := func(field string, g, w *time.Time) {
		switch {
		case g == nil && w == nil:
		case g == nil:
			diffs = append(diffs, field+": got nil, want "+w.String())
		case w == nil:
			diffs = append(diffs, field+": got "+g.String()+", want nil")
		case !g.Equal(*w):
			diffs = append(diffs, field+": got "+g.String()+", want "+w.String())
		}
	}
	if got.Name != want.Name {
		diffs = append(diffs, "name: "+got.Name+" != "+want.Name)
	}
	str("provider", got.Provider, want.Provider)
	str("token_url", got.TokenURL, want.TokenURL)
	str("client_id", got.ClientID, want.ClientID)
	str("client_secret", got.ClientSecret, want.ClientSecret)
	str("scopes", got.Scopes, want.Scopes)
	str("auth_style", got.AuthStyle, want.AuthStyle)
	str("access_token", got.AccessToken, want.AccessToken)
	str("refresh_token", got.RefreshToken, want.RefreshToken)
	tm("access_token_expires", got.AccessTokenExpires, want.AccessTokenExpires)
	tm("refresh_token_expires", got.RefreshTokenExpires, want.RefreshTokenExpires)
	return strings.Join(diffs, "; ")
}

func TestParseErrors(t *testing.T) {
	t.Parallel()
	// Every input carries secrets; no error may repeat them.
	const sec = `"access_token":"at-SECRET-x","refresh_token":"rt-SECRET-x","client_secret":"cs-SECRET-x"`
	good := `{"name":"good1",` + sec + `}` + "\n" + `{"name":"good2",` + sec + `}` + "\n"
	tests := []struct {
		name string
		in   string
		want string // substring of the error
	}{
		{"empty input", "", "no connections"},
		{"only whitespace", " \n\t\n", "no connections"},
		{"empty array", "[]", "no connections"},
		{"malformed object", `{"name":"a",` + sec, "malformed JSON"},
		{"malformed object reports the offset only", `{"name":"a",` + sec + `,"x":rt-SECRET-bare}`, "syntax error at byte"},
		{"malformed array", `[{"name":"a",` + sec + `},`, "malformed JSON"},
		{"garbage", `rt-SECRET-garbage`, "malformed JSON"},
		{"data after the array", `[{"name":"a",` + sec + `}] {"name":"b"}`, "data after the array"},
		{"unknown field", `{"name":"a",` + sec + `,"bogus":1}`, `unknown field "bogus"`},
		{"unknown field in an array", `[{"name":"a",` + sec + `,"bogus":"rt-SECRET-y"}]`, `unknown field "bogus"`},
		{"wrong type", `{"name":"a",` + sec + `,"expires_in":"rt-SECRET-y"}`, `field "expires_in" must be`},
		{"secret of the wrong type", `{"name":"a","refresh_token":["rt-SECRET-y"]}`, `field "refresh_token" must be`},
		{"name of the wrong type", `{"name":12,` + sec + `}`, `field "name" must be`},
		{"not an object", `"rt-SECRET-string"`, "must be"},
		{"missing name", `{` + sec + `}`, "name is required"},
		{"empty name", `{"name":"",` + sec + `}`, "name is required"},
		{"null record", `null`, "name is required"},
		{"name with a space", `{"name":"a b",` + sec + `}`, "must not contain spaces"},
		{"name with a control character", `{"name":"a\u0007b",` + sec + `}`, "control characters"},
		{"name too long", `{"name":"` + strings.Repeat("n", 201) + `",` + sec + `}`, "longer than 200 bytes"},
		{"bad expires_at", `{"name":"a",` + sec + `,"expires_at":"tomorrow"}`, "expires_at must be an RFC 3339 time"},
		{"expires_at without zone", `{"name":"a",` + sec + `,"expires_at":"2030-01-02T03:04:05"}`, "expires_at must be an RFC 3339 time"},
		{"both expiries", `{"name":"a",` + sec + `,"expires_at":"2030-01-02T03:04:05Z","expires_in":10}`, "not both"},
		{"negative expires_in", `{"name":"a",` + sec + `,"expires_in":-1}`, "expires_in must be"},
		{"huge expires_in", `{"name":"a",` + sec + `,"expires_in":1e300}`, "expires_in must be"},
		{"unknown provider", `{"name":"a",` + sec + `,"provider":"nope"}`, `unknown provider "nope"`},
		{"empty provider", `{"name":"a",` + sec + `,"provider":""}`, `unknown provider`},
		{"token_url not a URL", `{"name":"a",` + sec + `,"token_url":"::not a url"}`, "token_url must be"},
		{"token_url relative", `{"name":"a",` + sec + `,"token_url":"/token"}`, "token_url must be"},
		{"token_url ftp", `{"name":"a",` + sec + `,"token_url":"ftp://example.com/token"}`, "token_url must be"},
		{"token_url without host", `{"name":"a",` + sec + `,"token_url":"https:///token"}`, "token_url must be"},
		{"token_url with credentials", `{"name":"a",` + sec + `,"token_url":"https://cid:cs-SECRET-url@example.com/token"}`, "without credentials"},
		{"bad auth_style", `{"name":"a",` + sec + `,"auth_style":"magic"}`, "unknown auth style"},
		{"duplicate names in an array", `[{"name":"a",` + sec + `},{"name":"b"},{"name":"a",` + sec + `}]`, `record 3 ("a"): name appears twice`},
		{"duplicate names in json lines", `{"name":"a",` + sec + `}` + "\n" + `{"name":"a",` + sec + `}`, "name appears twice"},
		{"bad record after good ones", good + `{"name":"bad",` + sec + `,"expires_in":-5}`, `record 3 ("bad")`},
		{"malformed record after good ones", good + `{"name":"bad",` + sec, "record 3: malformed JSON"},
		{"unknown field after good ones", good + `{"name":"bad","nope":"rt-SECRET-z"}`, `record 3: malformed JSON: unknown field "nope"`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			rows, err := Parse(strings.NewReader(tc.in), provider.NewCatalogue(), testNow)
			if err == nil {
				t.Fatalf("Parse succeeded with %d rows; want an error containing %q", len(rows), tc.want)
			}
			if rows != nil {
				t.Errorf("Parse returned %d rows with its error", len(rows))
			}
			msg := err.Error()
			if !strings.Contains(msg, tc.want) {
				t.Errorf("error %q does not contain %q", msg, tc.want)
			}
			if strings.Contains(msg, "SECRET") {
				t.Errorf("error repeats a secret: %q", msg)
			}
			if strings.ContainsAny(msg, "\n\r") {
				t.Errorf("error is not one line: %q", msg)
			}
		})
	}
}

// spaces is an endless stream of blanks.
type spaces struct{}

var blanks = []byte(strings.Repeat(" ", 64<<10))

func (spaces) Read(p []byte) (int, error) {
	n := 0
	for n < len(p) {
		n += copy(p[n:], blanks)
	}
	return n, nil
}

// TestReaderStreams reads a file larger than the 64 MiB an import was
// once capped at, and finds a duplicate name after it, naming both records.
func TestReaderStreams(t *testing.T) {
	t.Parallel()
	in := io.MultiReader(strings.NewReader(`{"name":"a","refresh_token":"rt-SECRET"}`), io.LimitReader(spaces{}, 80<<20),
		strings.NewReader(`{"name":"b","refresh_token":"rt-SECRET"}`+"\n"+`{"name":"a","refresh_token":"rt-SECRET"}`))
	rd := NewReader(in, provider.NewCatalogue(), testNow)
	for _, want := range []string{"a", "b"} {
		row, err := rd.Next()
		if err != nil || row.Name != want {
			t.Fatalf("got %q, %v; want %q", row.Name, err, want)
		}
	}
	_, err := rd.Next()
	if err == nil || err.Error() != `record 3 ("a"): name appears twice (first at record 1)` {
		t.Fatalf("err = %v", err)
	}
	if _, again := rd.Next(); !errors.Is(again, err) || rd.Records() != 3 {
		t.Fatalf("after the error: %v, %d records", again, rd.Records())
	}
}

func TestParseReadError(t *testing.T) {
	t.Parallel()
	boom := errors.New("disk on fire")
	_, err := Parse(io.MultiReader(strings.NewReader(`{"name":`), iotest.ErrReader(boom)), provider.NewCatalogue(), testNow)
	if !errors.Is(err, boom) || !strings.HasPrefix(err.Error(), "read: ") {
		t.Fatalf("err = %v, want read: %v", err, boom)
	}
}

// TestParseLabelsLongNames checks that an error names its record, but does
// not quote an overlong name.
func TestParseLabelsLongNames(t *testing.T) {
	t.Parallel()
	long := strings.Repeat("x", 150)
	_, err := Parse(strings.NewReader(`{"name":"`+long+`","expires_in":-1}`), provider.NewCatalogue(), testNow)
	if err == nil {
		t.Fatal("Parse succeeded")
	}
	if strings.Contains(err.Error(), long) || !strings.HasPrefix(err.Error(), "record 1: ") {
		t.Fatalf("err = %q, want record 1 without the name", err)
	}
}
