package mockprovider_test

import (
	"html"
	"io"
	"maps"
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strings"
	"testing"

	"golang.org/x/oauth2"

	"github.com/tokenwarden/tokenwarden/internal/mockprovider"
)

var (
	hiddenInput = regexp.MustCompile(`<input type="hidden" name="([^"]*)" value="([^"]*)">`)
	tag         = regexp.MustCompile(`<[^>]*>`)
)

// consentPage is what a GET /authorize showed: the status, the heading a
// person reads, and the form's hidden fields.
type consentPage struct {
	status  int
	heading string
	fields  url.Values
}

func getConsent(t *testing.T, srv *httptest.Server, q url.Values) consentPage {
	t.Helper()
	req, err := http.NewRequestWithContext(t.Context(), http.MethodGet, srv.URL+"/authorize?"+q.Encode(), nil)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := srv.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	p := consentPage{status: resp.StatusCode, fields: url.Values{}}
	if _, h1, ok := strings.Cut(string(body), "<h1>"); ok {
		h1, _, _ = strings.Cut(h1, "</h1>")
		p.heading = html.UnescapeString(tag.ReplaceAllString(h1, ""))
	}
	for _, m := range hiddenInput.FindAllStringSubmatch(string(body), -1) {
		p.fields.Add(html.UnescapeString(m[1]), html.UnescapeString(m[2]))
	}
	return p
}

// decide POSTs the consent form's fields with the button pressed and
// returns the status and the query of the redirect back to the client.
func decide(t *testing.T, srv *httptest.Server, fields url.Values, decision string) (int, url.Values) {
	t.Helper()
	form := maps.Clone(fields)
	form.Set("decision", decision)
	return redirectBack(t, srv, postForm(t, srv, form))
}

// postForm is a POST /authorize of form, as a browser sends a form.
func postForm(t *testing.T, srv *httptest.Server, form url.Values) *http.Request {
	t.Helper()
	req, err := http.NewRequestWithContext(t.Context(), http.MethodPost, srv.URL+"/authorize", strings.NewReader(form.Encode()))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	return req
}

// consentRequest is a valid authorization request with PKCE, and its verifier.
func consentRequest() (url.Values, string) {
	verifier := oauth2.GenerateVerifier()
	return url.Values{
		"response_type": {"code"}, "client_id": {"cid"}, "redirect_uri": {callback}, "state": {"st-<1>&"},
		"code_challenge_method": {"S256"}, "code_challenge": {oauth2.S256ChallengeFromVerifier(verifier)},
		"scope": {"read write"}, "prompt": {"consent"},
	}, verifier
}

func TestConsentPageAllow(t *testing.T) {
	t.Parallel()
	mp, srv := start(t, mockprovider.Options{Consent: true})
	q, verifier := consentRequest()

	page := getConsent(t, srv, q)
	if page.status != http.StatusOK || page.heading != "cid wants access to read write" {
		t.Fatalf("consent page: %d, heading %q", page.status, page.heading)
	}
	// The form carries the request as it came, state and PKCE included.
	if !maps.EqualFunc(page.fields, q, func(a, b []string) bool { return strings.Join(a, "\x00") == strings.Join(b, "\x00") }) {
		t.Fatalf("the form carries %v, want the request %v", page.fields, q)
	}
	if len(mp.Authorized()) != 0 {
		t.Fatalf("showing the page issued tokens")
	}

	status, back := decide(t, srv, page.fields, "allow")
	if status != http.StatusFound || back.Get("code") == "" || back.Get("state") != "st-<1>&" || back.Get("error") != "" {
		t.Fatalf("allow: %d %v", status, back)
	}
	a := redeem(t, srv, back.Get("code"), verifier)
	if a.status != http.StatusOK || a.str("access_token") == "" || a.str("scope") != "read write" {
		t.Fatalf("exchange: %d %s", a.status, a.raw)
	}
	if len(mp.Authorized()) != 1 {
		t.Errorf("Authorized() = %+v", mp.Authorized())
	}
}

func TestConsentPageDeny(t *testing.T) {
	t.Parallel()
	mp, srv := start(t, mockprovider.Options{Consent: true})
	q, _ := consentRequest()
	page := getConsent(t, srv, q)
	if page.status != http.StatusOK {
		t.Fatalf("consent page: %d", page.status)
	}
	status, back := decide(t, srv, page.fields, "deny")
	if status != http.StatusFound || back.Get("error") != "access_denied" || back.Get("state") != "st-<1>&" || back.Get("code") != "" {
		t.Fatalf("deny: %d %v", status, back)
	}
	// Without a button (no decision), nothing is approved either.
	if status, back := decide(t, srv, page.fields, ""); status != http.StatusFound || back.Get("error") != "access_denied" {
		t.Fatalf("no decision: %d %v", status, back)
	}
	// DenyAuthorization still wins over Allow.
	mp.DenyAuthorization(true)
	if status, back := decide(t, srv, page.fields, "allow"); status != http.StatusFound || back.Get("error") != "access_denied" {
		t.Fatalf("allow while denying: %d %v", status, back)
	}
	if len(mp.Authorized()) != 0 {
		t.Errorf("a refusal issued tokens: %+v", mp.Authorized())
	}
}

// TestConsentPageChecksTheRequestFirst: a request the provider would refuse
// gets no page, and a POST is checked as the GET was.
func TestConsentPageChecksTheRequestFirst(t *testing.T) {
	t.Parallel()
	_, srv := start(t, mockprovider.Options{Consent: true})
	q, _ := consentRequest()
	q.Set("code_challenge_method", "plain")
	status, back := authorize(t, srv, q)
	if status != http.StatusFound || back.Get("error") != "invalid_request" {
		t.Fatalf("plain PKCE: %d %v, want a redirect with invalid_request", status, back)
	}
	q, _ = consentRequest()
	q.Set("redirect_uri", "not a url")
	if status, _ := decide(t, srv, q, "allow"); status != http.StatusBadRequest {
		t.Fatalf("POST with a bad redirect_uri: %d, want 400", status)
	}
	q, _ = consentRequest()
	q.Del("code_challenge")
	if status, back := decide(t, srv, q, "allow"); status != http.StatusFound || back.Get("error") != "invalid_request" || back.Get("code") != "" {
		t.Fatalf("POST without PKCE: %d %v", status, back)
	}
}

// TestAuthorizeWithoutConsentRefusesPost: the default mode is unchanged, GET
// only.
func TestAuthorizeWithoutConsentRefusesPost(t *testing.T) {
	t.Parallel()
	_, srv := start(t, mockprovider.Options{})
	q, _ := consentRequest()
	q.Set("decision", "allow")
	resp, err := srv.Client().Do(postForm(t, srv, q))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusMethodNotAllowed || resp.Header.Get("Allow") != http.MethodGet {
		t.Fatalf("POST /authorize without Consent: %d, Allow %q", resp.StatusCode, resp.Header.Get("Allow"))
	}
}
