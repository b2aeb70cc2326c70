package connfile

import (
	"bytes"
	"regexp"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/tokenwarden/tokenwarden/internal/provider"
)

// marker is planted in every secret value of the seeds.
const marker = "SECRETMARKER"

// secretValue matches a secret field and its string value, complete or cut
// short by the end of the input. encoding/json matches field names without
// regard to case, so the pattern does too.
var secretValue = regexp.MustCompile(`(?i)"(access_token|refresh_token|client_secret)"\s*:\s*"(?:[^"\\]|\\.)*("|\\?$)`)

// markerOutsideSecrets reports whether the marker occurs in the input other
// than inside a secret's value: in a name, a provider or a field name the
// error may legitimately quote.
func markerOutsideSecrets(in []byte) bool {
	stripped := secretValue.ReplaceAll(in, []byte(`"x":""`))
	return bytes.Contains(stripped, []byte(marker))
}

func FuzzParse(f *testing.F) {
	seeds := []string{
		// Valid.
		`{"name":"a","access_token":"at-SECRETMARKER-1","refresh_token":"rt-SECRETMARKER-1","expires_in":3600}`,
		`[{"name":"a","refresh_token":"rt-SECRETMARKER"},{"name":"b","access_token":"at-SECRETMARKER","expires_in":0}]`,
		"{\"name\":\"a\",\"client_secret\":\"cs-SECRETMARKER\"}\n{\"name\":\"b\",\"refresh_token\":\"rt-SECRETMARKER\"}\n",
		`{"name":"a","provider":"oauth2","token_url":"https://auth.example.com/token","client_id":"cid",` +
			`"client_secret":"cs-SECRETMARKER","scopes":"x","auth_style":"basic","access_token":"at-SECRETMARKER",` +
			`"refresh_token":"rt-SECRETMARKER","expires_at":"2030-01-02T03:04:05Z"}`,
		`{"name":"a","access_token":"at-SECRETMARKER","token_type":"Bearer","scope":"s","id_token":"i","refresh_token_expires_in":5}`,
		// Invalid.
		``,
		`[]`,
		`{"name":"a","refresh_token":"rt-SECRETMARKER"`,
		`{"name":"a","refresh_token":"rt-SECRETMARKER","bogus":1}`,
		`{"refresh_token":"rt-SECRETMARKER"}`,
		`{"name":"a","refresh_token":"rt-SECRETMARKER","expires_at":"soon"}`,
		`{"name":"a","refresh_token":"rt-SECRETMARKER","expires_at":"2030-01-02T03:04:05Z","expires_in":1}`,
		`{"name":"a","refresh_token":"rt-SECRETMARKER","provider":"nope"}`,
		`{"name":"a","refresh_token":"rt-SECRETMARKER","token_url":"ftp://h/t"}`,
		`{"name":"a","refresh_token":"rt-SECRETMARKER","token_url":"https://u:cs-SECRETMARKER@h/t"}`,
		`[{"name":"a","refresh_token":"rt-SECRETMARKER"},{"name":"a","refresh_token":"rt-SECRETMARKER"}]`,
		"{\"name\":\"a\",\"access_token\":\"at-SECRETMARKER\"}\n{\"name\":\"b\",\"access_token\":\"at-SECRETMARKER\",\"expires_in\":-1}",
		`{"name":"a","refresh_token":["rt-SECRETMARKER"]}`,
		`{"name":"a","access_token":at-SECRETMARKER}`,
		`[{"name":"a","refresh_token":"rt-SECRETMARKER"}] trailing`,
		`{"name":"a b","client_secret":"cs-SECRETMARKER"}`,
		`{"name":"a","auth_style":"magic","client_secret":"cs-SECRETMARKER"}`,
		`null`,
		`"at-SECRETMARKER"`,
		"{\"name\":\"a\",\"refresh_token\":\"rt-SECRETMARKER\xff\"}",
		`{"name":"a","refresh_token":"rt-SECRETMARKER\ud800"}`,
		`{"name":"a\u202e","refresh_token":"rt-SECRETMARKER"}`,
		`{"name":"a","refresh_token":"rt-SECRETMARKER x"}`,
	}
	for _, s := range seeds {
		f.Add([]byte(s))
	}
	cat := provider.NewCatalogue()
	f.Fuzz(func(t *testing.T, in []byte) {
		rows, err := Parse(bytes.NewReader(in), cat, testNow)
		if err != nil {
			if rows != nil {
				t.Fatalf("Parse returned %d rows with error %q", len(rows), err)
			}
			msg := err.Error()
			if strings.Contains(msg, marker) && !markerOutsideSecrets(in) {
				t.Fatalf("error repeats a secret value: %q", msg)
			}
			return
		}
		if len(rows) == 0 {
			t.Fatal("Parse succeeded with no rows")
		}
		if !utf8.Valid(in) {
			t.Fatal("Parse accepted input that is not UTF-8")
		}
		seen := map[string]bool{}
		for i, r := range rows {
			if r.Name == "" {
				t.Fatalf("row %d has an empty name", i)
			}
			if seen[r.Name] {
				t.Fatalf("name %q appears twice", r.Name)
			}
			seen[r.Name] = true
		}
	})
}

func TestMarkerOutsideSecrets(t *testing.T) {
	t.Parallel()
	for in, want := range map[string]bool{
		`{"name":"a","refresh_token":"rt-SECRETMARKER"}`:             false,
		`{"name":"a","ACCESS_TOKEN" : "x\"SECRETMARKER"}`:            false,
		`{"name":"a","client_secret":"cs-SECRETMARKER`:               false,
		`{"name":"SECRETMARKER","refresh_token":"rt-SECRETMARKER"}`:  true,
		`{"name":"a","SECRETMARKER":1}`:                              true,
		`{"name":"a","refresh_token":"x","scopes":"SECRETMARKER"}`:   true,
		`{"name":"a","refresh_token":"rt"}{"name":"SECRETMARKER-b"}`: true,
	} {
		if got := markerOutsideSecrets([]byte(in)); got != want {
			t.Errorf("markerOutsideSecrets(%s) = %t, want %t", in, got, want)
		}
	}
}
