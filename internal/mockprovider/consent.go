package mockprovider

import (
	"html/template"
	"maps"
	"net/http"
	"net/url"
	"slices"
)

// The consent page's buttons send decisionField=allow or deny, with every
// parameter of the authorization request beside it.
const (
	decisionField = "decision"
	allow         = "allow"
)

// authorizeParams returns the authorization request's parameters: the query
// of a GET or, with Options.Consent, the form a consent page's button POSTs.
// It answers any other method itself and returns false.
func (s *Server) authorizeParams(w http.ResponseWriter, r *http.Request) (url.Values, bool) {
	switch {
	case r.Method == http.MethodGet:
		return r.URL.Query(), true
	case r.Method == http.MethodPost && s.opts.Consent:
		r.Body = http.MaxBytesReader(w, r.Body, maxBodyBytes)
		if err := r.ParseForm(); err != nil {
			http.Error(w, "malformed form body", http.StatusBadRequest)
			return nil, false
		}
		return r.PostForm, true
	case s.opts.Consent:
		w.Header().Set("Allow", "GET, POST")
		http.Error(w, "authorize requires GET or POST", http.StatusMethodNotAllowed)
	default:
		w.Header().Set("Allow", http.MethodGet)
		http.Error(w, "authorize requires GET", http.StatusMethodNotAllowed)
	}
	return nil, false
}

// field is one hidden input of the consent form.
type field struct{ Name, Value string }

// consentView is what the consent page shows.
type consentView struct {
	Client, Scope, ReturnTo string
	Fields                  []field
}

// showConsent answers a valid authorization request with the consent page.
// Its form carries the request unchanged (state and PKCE challenge
// included), so that the POST approves exactly what was asked. A mock needs
// no CSRF token: the request's own redirect URI, state and PKCE bind
// whatever it issues to the client that asked.
func (s *Server) showConsent(w http.ResponseWriter, q url.Values) {
	v := consentView{Client: q.Get("client_id"), Scope: q.Get("scope")}
	if u, err := url.Parse(q.Get("redirect_uri")); err == nil {
		v.ReturnTo = u.Host
	}
	for _, k := range slices.Sorted(maps.Keys(q)) {
		if k == decisionField {
			continue
		}
		for _, val := range q[k] {
			v.Fields = append(v.Fields, field{k, val})
		}
	}
	h := w.Header()
	h.Set("Content-Type", "text/html; charset=utf-8")
	h.Set("Cache-Control", "no-store")
	// No script, nothing from elsewhere, never in a frame (clickjacking).
	// form-action is left out on purpose: browsers apply it to the
	// redirect that follows the POST, which goes to the client.
	h.Set("Content-Security-Policy", "default-src 'none'; style-src 'unsafe-inline'; frame-ancestors 'none'")
	h.Set("X-Frame-Options", "DENY")
	_ = consentPage.Execute(w, v)
}

// consentPage is the mock provider's whole consent screen.
var consentPage = template.Must(template.New("consent").Parse(`<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Authorize {{.Client}} · mock provider</title>
<style>
body { font: 16px/1.5 system-ui, sans-serif; background: #f4f5f7; color: #1f2328; margin: 0; }
main { max-width: 26rem; margin: 4rem auto; background: #fff; border: 1px solid #d0d7de; border-radius: 8px; padding: 1.5rem 2rem; }
p.who { color: #57606a; font-size: .875rem; margin: 0; }
h1 { font-size: 1.25rem; margin: .25rem 0 1rem; }
.buttons { display: flex; gap: .75rem; margin-top: 1.5rem; }
button { font: inherit; padding: .5rem 1.25rem; border-radius: 6px; border: 1px solid #d0d7de; background: #f6f8fa; cursor: pointer; }
button.allow { background: #1f883d; border-color: #1a7f37; color: #fff; }
button:focus-visible { outline: 3px solid #0969da; outline-offset: 2px; }
</style>
</head>
<body>
<main>
<p class="who">mock provider</p>
<h1>{{.Client}} wants access to {{if .Scope}}{{.Scope}}{{else}}your account{{end}}</h1>
<p>Allow it to act for you? Either way you go back to {{.ReturnTo}}.</p>
<form method="post" action="/authorize">
{{range .Fields}}<input type="hidden" name="{{.Name}}" value="{{.Value}}">
{{end}}<div class="buttons">
<button class="allow" type="submit" name="decision" value="allow" autofocus>Allow</button>
<button type="submit" name="decision" value="deny">Deny</button>
</div>
</form>
</main>
</body>
</html>
`))
