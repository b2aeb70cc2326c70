package provider

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/tokenwarden/tokenwarden/internal/testutil"
	"github.com/tokenwarden/tokenwarden/pkg/model"
)

// hydraConcurrent is ORY Hydra's answer, verbatim, when two refreshes of one
// token meet a serialization failure in its database: the token is fine and
// the request must be retried.
const hydraConcurrent = `{"error":"invalid_request","error_description":"Failed to refresh token because of multiple concurrent requests using the same token. Please retry the request."}`

func TestHydraConcurrentRefreshIsTransient(t *testing.T) {
	t.Parallel()
	tmpl, _ := NewCatalogue().template("oauth2")
	header := http.Header{"Content-Type": {"application/json"}}
	e := classify(tmpl, http.StatusBadRequest, "", "", []byte(hydraConcurrent), header, nil, nil)
	if e.Reauth || e.Code != "invalid_request" || !strings.Contains(e.Description, "multiple concurrent requests") {
		t.Fatalf("classify: reauth=%v code=%q description=%q; want a transient invalid_request", e.Reauth, e.Code, e.Description)
	}

	r, conn := serve(t, answer(http.StatusBadRequest, hydraConcurrent))
	_, err := r.Refresh(t.Context(), conn)
	var pe *Error
	if !errors.As(err, &pe) || pe.Reauth || pe.Config {
		t.Fatalf("Refresh: %v (reauth=%v); want a transient error", err, pe != nil && pe.Reauth)
	}
}

// needs_reauth is for a dead grant (RFC 6749 section 5.2, RFC 8707's
// invalid_target, and the codes a template lists); a malformed request, or
// one the provider asks to retry, is not one.
func TestOnlyADeadGrantNeedsReauth(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		provider, body string
		reauth         bool
	}{
		{"oauth2", `{"error":"invalid_grant","error_description":"The refresh token is invalid, expired or revoked."}`, true},
		{"oauth2", `{"error":"invalid_grant","error_description":"Token revoked. Do not retry."}`, true},
		{"oauth2", `{"error":"invalid_grant","error_description":"Token reuse detected; the family is revoked, don't retry"}`, true},
		{"oauth2", `{"error":"invalid_client"}`, true},
		{"oauth2", `{"error":"unauthorized_client"}`, true},
		{"oauth2", `{"error":"unsupported_grant_type"}`, true},
		{"oauth2", `{"error":"invalid_scope"}`, true},
		{"oauth2", `{"error":"invalid_target","error_description":"audience \"https://other.example\" is not a resource this server issues tokens for"}`, true},
		{"hubspot", `{"status":"BAD_REFRESH_TOKEN","message":"missing or unknown refresh token"}`, true},
		{"slack", `{"ok":false,"error":"token_revoked"}`, true},
		{"oauth2", `{"error":"invalid_request","error_description":"Missing parameter: refresh_token"}`, false},
		{"oauth2", `{"error":"invalid_request"}`, false},
		{"oauth2", `{"error":"invalid_grant","error_description":"Please retry the request."}`, false},
		{"oauth2", `{"error":"invalid_grant","error_description":"Retrying may help"}`, false},
		{"oauth2", `{"error":"invalid_grant","error_description":"A concurrent refresh of this token is in progress"}`, false},
		{"oauth2", `{"error":"invalid_client","error_description":"Concurrently modified; please retry"}`, false},
		{"salesforce", `{"error":"invalid_grant","error_description":"token request is already being processed"}`, false},
	} {
		tmpl, ok := NewCatalogue().template(tc.provider)
		if !ok {
			t.Fatalf("no template %s", tc.provider)
		}
		e := classify(tmpl, http.StatusBadRequest, "", "", []byte(tc.body), http.Header{}, nil, nil)
		if e.Reauth != tc.reauth || e.Config {
			t.Errorf("%s %s: reauth=%v config=%v, want reauth=%v", tc.provider, tc.body, e.Reauth, e.Config, tc.reauth)
		}
	}
}

// Secrets whose encodings all differ: a space (+ or %20), reserved
// characters, HTML-escaped characters, a quote and a backslash (JSON), and
// non-ASCII. The refresh token is long enough to straddle the cut of a
// description.
const (
	echoClientID = "app:1/ü x"
	echoSecret   = `cs-SECRET /+=&<>"\ü-0123456789abcdef` //nolint:gosec // a planted test secret
)

var echoRT = "rt-SECRET/+=&<>ü-" + strings.Repeat("0123456789abcdef", 20)

// echo answers every token request with a part of the request (its
// headers, its body, its form again as JSON, or its decoded Basic
// credential) repeated in the answer's shape. One part at a time: a
// description is cut to a bounded length, and each part must come first to
// be seen whole.
func echo(shape, part string) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		var d string
		switch part {
		case "headers":
			var b strings.Builder
			for _, k := range []string{"Authorization", "Content-Type"} {
				fmt.Fprintf(&b, "%s: %s ", k, r.Header.Get(k))
			}
			d = b.String()
		case "body":
			d = "body=" + string(body)
		case "json":
			form, _ := url.ParseQuery(string(body))
			asJSON, _ := json.Marshal(form)
			d = "json=" + string(asJSON)
		case "basic":
			user, pass, _ := r.BasicAuth()
			d = "basic=" + user + ":" + pass
		}
		switch shape {
		case "json":
			desc, _ := json.Marshal(d)
			answer(http.StatusBadRequest, `{"error":"invalid_grant","error_description":`+string(desc)+`}`)(w, r)
		case "json code":
			code, _ := json.Marshal(d)
			answer(http.StatusBadRequest, `{"error":`+string(code)+`}`)(w, r)
		case "json 200":
			desc, _ := json.Marshal(d)
			answer(http.StatusOK, `{"error":"bad_refresh_token","error_description":`+string(desc)+`}`)(w, r)
		case "form":
			answer(http.StatusBadRequest, "error=invalid_request&error_description="+url.QueryEscape(d),
				"Content-Type", "application/x-www-form-urlencoded")(w, r)
		case "text":
			answer(http.StatusBadRequest, "error=invalid_request&error_description="+d, "Content-Type", "text/plain")(w, r)
		case "html":
			answer(http.StatusBadGateway, "<html><body><h1>Bad gateway</h1><pre>"+d+"</pre></body></html>", "Content-Type", "text/html")(w, r)
		}
	}
}

// A provider that echoes the request in its error must not get a secret,
// in any form or any part, into the error.
func TestEchoedRequestLeaksNoSecret(t *testing.T) {
	t.Parallel()
	forms := testutil.SecretForms(echoClientID, echoSecret, echoRT)
	for _, style := range []string{"basic", "post", "bearer", "none"} {
		for _, shape := range []string{"json", "json code", "json 200", "form", "text", "html"} {
			for _, part := range []string{"headers", "body", "json", "basic"} {
				t.Run(style+" "+shape+" "+part, func(t *testing.T) {
					t.Parallel()
					r, conn := serve(t, echo(shape, part))
					conn.AuthStyle = style
					conn.ClientID = echoClientID
					conn.ClientSecret = echoSecret
					conn.RefreshToken = model.Secret(echoRT)
					_, err := r.Refresh(t.Context(), conn)
					if err == nil {
						t.Fatal("an error answer was taken as success")
					}
					if cause := errors.Unwrap(err); cause != nil {
						if leak := testutil.Leaked(fmt.Sprintf("%+v", cause), forms); leak != "" {
							t.Fatalf("the error's cause repeats %q of a secret", leak)
						}
					}
					if leak := testutil.Leaked(err.Error(), forms); leak != "" {
						t.Fatalf("the error repeats %q of a secret: %s", leak, err)
					}
					if !utf8.ValidString(err.Error()) || strings.ContainsAny(err.Error(), "\n\r\t") {
						t.Fatalf("error text is not one valid line: %q", err)
					}
				})
			}
		}
	}
}

// The description is cut to a bounded length; cutting first would leave
// the first part of a token that straddles the cut.
func TestScrubbedBeforeTruncation(t *testing.T) {
	t.Parallel()
	rt := "rt-SECRET-" + strings.Repeat("0123456789abcdef", 16)
	forms := testutil.SecretForms("cid", "cs-SECRET", rt)
	for _, at := range []int{0, 100, 150, 190, 199} {
		desc := strings.Repeat("x", at) + rt + " was refused"
		r, conn := serve(t, answer(http.StatusBadRequest, `{"error":"invalid_grant","error_description":"`+desc+`"}`))
		conn.RefreshToken = model.Secret(rt)
		_, err := r.Refresh(t.Context(), conn)
		if err == nil {
			t.Fatal("no error")
		}
		if leak := testutil.Leaked(err.Error(), forms); leak != "" {
			t.Errorf("token at %d: the error keeps %q of it: %s", at, leak, err)
		}
	}
}

// A provider may cut or alter its own echo: what is left of a secret is
// scrubbed too, down to minPart bytes.
func TestScrubsWhatIsLeftOfASecret(t *testing.T) {
	t.Parallel()
	red := NewRedactor("cid", "cs-SECRET-0123456789", "rt-SECRET-abcdefghijklmnop")
	for _, text := range []string{
		"you sent rt-SECRET-abcdefgh",
		"you sent rt-SECRET-abcdefgh... (cut)",
		"you sent ...ECRET-abcdefghijklmnop",
		"you sent rt-SECRET-abcdefgh*ijklmnop",
		"basic " + "Y2lkOmNzLVNFQ1JFVC0wMTIz",
	} {
		got := red.Clean(text, 200)
		if strings.Contains(got, "ECRET") || strings.Contains(got, "cdefgh") || strings.Contains(got, "jklmnop") || strings.Contains(got, "Y2lkOmNzLVNFQ1JFVC0wMTIz") {
			t.Errorf("clean(%q) = %q", text, got)
		}
	}
	// The echo altered the first byte of a character: what is left must
	// still be valid UTF-8.
	red = NewRedactor("cid", "", "ĩ-SECRETabcdef")
	if got := red.Clean("z\u0129-SECRETabcdef", 200); strings.Contains(got, "SECRET") || !utf8.ValidString(got) {
		t.Errorf("clean of an altered character: %q", got)
	}
	if got := red.Clean("zé-SECRETabcdef", 200); strings.Contains(got, "SECRET") || !utf8.ValidString(got) {
		t.Errorf("clean of an altered character: %q", got)
	}
	if got := red.Clean("a short rt- or cs- is no secret", 200); got != "a short rt- or cs- is no secret" {
		t.Errorf("clean changed honest text: %q", got)
	}
}

// clean bounds the text without cutting a character in two: PostgreSQL
// refuses invalid UTF-8, and a last_error it refuses would lose the failure.
func TestCleanKeepsValidUTF8(t *testing.T) {
	t.Parallel()
	for n := 195; n <= 205; n++ {
		s := clean("x"+strings.Repeat("é", n), 200)
		if !utf8.ValidString(s) || len(s) > 200+len("...") {
			t.Fatalf("clean of %d runes: %q (%d bytes)", n, s, len(s))
		}
	}
}

// Provider text ends up on a terminal (`worker list`, `worker authorize`)
// and in logs: no control character survives, C1 ones included (U+009B is
// an 8-bit terminal's CSI), and one never glues two words together.
func TestCleanLeavesNoControlCharacters(t *testing.T) {
	t.Parallel()
	got := clean("bad\u009b31mgrant\x1b[0m\x00was\r\nrefused\u0085here \xff", 200)
	if want := "bad 31mgrant [0m was refused here \uFFFD"; got != want {
		t.Fatalf("clean = %q, want %q", got, want)
	}
	if got := NewRedactor("cid", "cs-SECRET").Clean("invalid_grant\u0080", 64); got != "invalid_grant" {
		t.Fatalf("Clean = %q, want %q", got, "invalid_grant")
	}
}

// A connection refused for its configuration is out of rotation like a dead
// grant, but says that its configuration, not its grant, is at fault.
func TestConfigurationErrorsSayConfiguration(t *testing.T) {
	t.Parallel()
	r := NewRefresher(NewCatalogue(), NewHTTPClient(time.Second, 1), nil).
		WithEndpointPolicy(EndpointPolicy{AllowedHosts: []string{"*.example.com"}})
	for name, conn := range map[string]Request{
		"unknown provider": {Provider: "nope", TokenURL: "http://127.0.0.1:1", RefreshToken: "x"},
		"no token url":     {Provider: "oauth2", RefreshToken: "x"},
		"bad auth style":   {Provider: "oauth2", TokenURL: "https://a.example.com", AuthStyle: "auto", RefreshToken: "x"},
		"host not allowed": {Provider: "oauth2", TokenURL: "https://evil.test/token", RefreshToken: "x"},
		"bad lifetime":     {Provider: "oauth2", TokenURL: "https://a.example.com", Params: map[string]string{"lifetime": "soon"}, RefreshToken: "x"},
	} {
		_, err := r.Refresh(t.Context(), conn)
		var pe *Error
		if !errors.As(err, &pe) || !pe.Reauth || !pe.Config || !strings.HasPrefix(err.Error(), "configuration error: ") {
			t.Errorf("%s: %v; want a configuration error", name, err)
		}
	}
	// A dead grant is not a configuration error.
	rr, conn := serve(t, answer(http.StatusBadRequest, `{"error":"invalid_grant"}`))
	_, err := rr.Refresh(t.Context(), conn)
	var pe *Error
	if !errors.As(err, &pe) || !pe.Reauth || pe.Config || strings.Contains(err.Error(), "configuration") {
		t.Fatalf("invalid_grant: %v", err)
	}
}
