package mockprovider

import (
	"crypto/rand"
	"crypto/subtle"
	"encoding/hex"
	"encoding/json"
	"net/http"
	"net/url"
	"slices"
	"sync"
	"time"
)

// defaultLifetime mirrors the one-hour access tokens most providers issue, so
// refresh scheduling behaves realistically without configuration.
const defaultLifetime = time.Hour

// maxBodyBytes bounds form parsing; a token request is tiny and the server
// may be exposed on a shared dev network.
const maxBodyBytes = 64 << 10

// Options configures a Server. The zero value is a permissive, non-rotating
// provider with one-hour access tokens and no client authentication.
type Options struct {
	// Lifetime is reported as expires_in so callers can exercise their
	// refresh-ahead scheduling; zero or negative means one hour.
	Lifetime time.Duration
	// Rotate makes every successful refresh issue a new refresh token and
	// retire the presented one, as strict providers (e.g. Xero) do.
	Rotate bool
	// Latency delays every token answer so timeouts and concurrency races can
	// be provoked; it is cut short when the request context ends.
	Latency time.Duration
	// ClientID enables client authentication when non-empty: requests must
	// carry ClientID and ClientSecret via HTTP Basic or the client_id and
	// client_secret form fields, otherwise they get 401 invalid_client.
	ClientID string
	// ClientSecret is checked together with ClientID; it is ignored when
	// ClientID is empty.
	ClientSecret string
	// OmitRefreshToken leaves refresh_token out of every response, like
	// Google, so callers must keep the token they already hold. It disables
	// Rotate, since a rotated token the client never sees would be lost.
	OmitRefreshToken bool
	// JWT, when set, accepts RFC 7523 jwt-bearer assertions it verifies
	// (jwtbearer.go); without it every assertion is refused.
	JWT *JWTOptions
	// Consent makes GET /authorize show a consent page with Allow and Deny
	// buttons, as a real provider does, instead of approving at once
	// (consent.go); for demos, where a person clicks through.
	Consent bool
	// GitHub, when set, serves GitHub's installation-token endpoint
	// (githubapp.go); without it every installation is 404.
	GitHub *GitHubOptions
	// Audiences, when set, are the only audience and RFC 8707 resource
	// values a client_credentials or account_credentials request may name;
	// any other is refused as invalid_target (clientcredentials.go). The
	// resource of a Microsoft-style RESOURCE/.default scope must be one of
	// them too, or the request is refused as Microsoft refuses it,
	// invalid_resource. A request naming none gets the server's default,
	// as RFC 8707 allows. Unset, every value is accepted.
	Audiences []string
	// OIDC, when set, makes the server an OpenID Connect provider too
	// (oidc.go); without it /.well-known/openid-configuration and /jwks
	// are 404 and no id_token is issued.
	OIDC *OIDCOptions
}

// Issued is what the server answered for one presented refresh token. It lets
// a test assert that the database holds exactly what the provider handed out.
type Issued struct {
	// AccessToken is the freshly minted access token the caller must store.
	AccessToken string
	// RefreshToken is the refresh token in the response; it is empty when
	// Options.OmitRefreshToken hid it from the client.
	RefreshToken string
	// ExpiresIn is the reported lifetime in seconds, from which the caller
	// derives its stored expiry.
	ExpiresIn int64
}

// family is one chain of refresh tokens descending from a single initial
// token. Revocation applies to the chain, as with real rotating providers.
type family struct {
	current string
	revoked bool
}

type tokenState struct {
	fam    *family
	used   bool
	issued *Issued
}

type failure struct {
	remaining int
	status    int
	body      string
	header    http.Header
}

// Server is a mock OAuth2 token endpoint. It implements http.Handler and is
// safe for concurrent use, so a single instance can back parallel refreshers.
type Server struct {
	opts Options

	mu        sync.Mutex
	tokens    map[string]*tokenState
	families  map[string]*family // keyed by the family's initial token
	fail      failure
	calls     int64
	successes int64
	reuses    int64
	held      time.Duration // total time answers were held for Latency
	authz     authzState    // authorization codes (authorize.go)
	granted   []ClientGrant // client-credentials answers (clientcredentials.go)
	oidc      *oidcState    // nil unless Options.OIDC (oidc.go)
}

// New returns a Server configured by opts. Defaults are applied here so the
// zero Options stays meaningful.
func New(opts Options) *Server {
	if opts.Lifetime <= 0 {
		opts.Lifetime = defaultLifetime
	}
	return &Server{
		opts:     opts,
		tokens:   make(map[string]*tokenState),
		families: make(map[string]*family),
		oidc:     newOIDC(opts.OIDC),
	}
}

// Calls reports every token request received, whatever its outcome, so tests
// can prove that a refresher did (or did not) contact the provider.
func (s *Server) Calls() int64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.calls
}

// Held reports the total time answers were held back for Options.Latency,
// as the server's clock measured it. A timer asked for 50 ms fires a little
// later, by up to a millisecond on a busy machine: that is the provider's
// latency too, and a caller timing its own overhead subtracts it.
func (s *Server) Held() time.Duration {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.held
}

// Successes reports the requests answered with 200, which is the number of
// token grants a caller should have persisted.
func (s *Server) Successes() int64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.successes
}

// Reuses reports requests that presented a refresh token already rotated
// away. Any non-zero value means the caller lost track of its newest token,
// which against a real provider would revoke the grant.
func (s *Server) Reuses() int64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.reuses
}

// Revoke simulates the user or provider withdrawing consent: refreshToken
// and every token of its family answer invalid_grant from now on. An unknown
// token is registered as revoked so that it is never adopted later.
func (s *Server) Revoke(refreshToken string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	st := s.lookupLocked(refreshToken)
	st.fam.revoked = true
}

// FailNext injects provider outages: the next n token requests receive
// status, body and header instead of a normal answer (for example 500, or 429
// with Retry-After). They still count in Calls. A later call replaces any
// failures not yet consumed; n <= 0 cancels them.
func (s *Server) FailNext(n int, status int, body string, header http.Header) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.fail = failure{remaining: n, status: status, body: body, header: header.Clone()}
}

// Issued returns the successful answer given to the latest request that
// presented refreshToken, so a test can compare it with what was stored. The
// boolean is false if that token never led to a 200 answer.
func (s *Server) Issued(refreshToken string) (Issued, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	st, ok := s.tokens[refreshToken]
	if !ok || st.issued == nil {
		return Issued{}, false
	}
	return *st.issued, true
}

// Current returns the newest refresh token of the family started by the
// initial token family, which is the one a well-behaved caller must hold
// after any number of rotations. It is returned even if the family has been
// revoked, and is "" for a token the server has never seen as a family start.
func (s *Server) Current(family string) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	if f, ok := s.families[family]; ok {
		return f.current
	}
	return ""
}

// lookupLocked returns the state of rt, adopting it as the start of a new
// family if it is unknown. The caller must hold s.mu.
func (s *Server) lookupLocked(rt string) *tokenState {
	if st, ok := s.tokens[rt]; ok {
		return st
	}
	f := &family{current: rt}
	st := &tokenState{fam: f}
	s.tokens[rt] = st
	s.families[rt] = f
	return st
}

type tokenResponse struct {
	AccessToken  string `json:"access_token"`
	TokenType    string `json:"token_type"`
	ExpiresIn    int64  `json:"expires_in"`
	RefreshToken string `json:"refresh_token,omitempty"`
	Scope        string `json:"scope,omitempty"`
	// IDToken is OpenID Connect's, for an openid scope (oidc.go).
	IDToken string `json:"id_token,omitempty"`
}

type errorResponse struct {
	Error            string `json:"error"`
	ErrorDescription string `json:"error_description,omitempty"`
}

// ServeHTTP answers POST /token and POST /oauth/token, the two paths
// providers commonly use, so client configuration can mimic either,
// /authorize (authorize.go), GitHub's installation-token endpoint and the
// validation requests of `worker check` (githubapp.go), and, with
// Options.OIDC, OpenID Connect's discovery document and keys (oidc.go).
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.URL.Path == "/authorize" {
		s.serveAuthorize(w, r)
		return
	}
	if s.oidc != nil && r.Method == http.MethodGet {
		switch r.URL.Path {
		case "/.well-known/openid-configuration":
			s.serveDiscovery(w, r)
			return
		case "/jwks":
			s.serveJWKS(w)
			return
		}
	}
	if slices.Contains(validationPaths, r.URL.Path) {
		s.serveValidation(w, r)
		return
	}
	installation, isApp := installationOf(r.URL.Path)
	if !isApp && r.URL.Path != "/token" && r.URL.Path != "/oauth/token" {
		http.NotFound(w, r)
		return
	}

	s.mu.Lock()
	s.calls++
	s.mu.Unlock()

	// Read the body before waiting: net/http only notices a client hanging
	// up (and cancels the request context) once the body has been consumed.
	var parseErr error
	if r.Method == http.MethodPost {
		r.Body = http.MaxBytesReader(w, r.Body, maxBodyBytes)
		parseErr = r.ParseForm()
	}

	if s.opts.Latency > 0 {
		start := time.Now()
		t := time.NewTimer(s.opts.Latency)
		select {
		case <-t.C:
			s.mu.Lock()
			s.held += time.Since(start)
			s.mu.Unlock()
		case <-r.Context().Done():
			t.Stop()
			// The client has gone; nobody will read an answer.
			return
		}
	}

	// Injected failures are decided after the delay so that a test which
	// arms FailNext while a slow request is in flight sees it applied.
	if f, ok := s.takeFailure(); ok {
		h := w.Header()
		for k, v := range f.header {
			h[k] = append([]string(nil), v...)
		}
		w.WriteHeader(f.status)
		_, _ = w.Write([]byte(f.body))
		return
	}

	if r.Method != http.MethodPost {
		w.Header().Set("Allow", http.MethodPost)
		writeError(w, http.StatusMethodNotAllowed, "invalid_request", "token endpoint requires POST")
		return
	}

	if parseErr != nil {
		writeError(w, http.StatusBadRequest, "invalid_request", "malformed form body")
		return
	}
	form := r.PostForm
	if isApp {
		// GitHub authenticates the app by its JWT, not a client secret.
		s.serveInstallationToken(w, r, installation)
		return
	}

	// A jwt-bearer request is authenticated by its signed assertion; client
	// authentication is optional for it (RFC 7523 section 3.1).
	if s.opts.ClientID != "" && form.Get("grant_type") != jwtBearerGrant {
		if usedBasic, ok := s.authenticate(r, form); !ok {
			if usedBasic {
				// RFC 6749 section 5.2 requires the challenge when the
				// client tried Basic authentication.
				w.Header().Set("WWW-Authenticate", `Basic realm="mockprovider"`)
			}
			writeError(w, http.StatusUnauthorized, "invalid_client", "client authentication failed")
			return
		}
	}

	switch gt := form.Get("grant_type"); gt {
	case "refresh_token":
	case "authorization_code":
		s.serveAuthorizationCode(w, r, form)
		return
	case "client_credentials", "account_credentials":
		s.serveClientCredentials(w, gt, form)
		return
	case jwtBearerGrant:
		s.serveJWTBearer(w, form)
		return
	case "":
		writeError(w, http.StatusBadRequest, "invalid_request", "missing grant_type")
		return
	default:
		writeError(w, http.StatusBadRequest, "unsupported_grant_type", "only refresh_token, authorization_code, client_credentials, account_credentials and jwt-bearer are supported")
		return
	}

	rt := form.Get("refresh_token")
	if rt == "" {
		writeError(w, http.StatusBadRequest, "invalid_request", "missing refresh_token")
		return
	}

	resp, errDesc := s.refresh(rt, form.Get("scope"))
	if errDesc != "" {
		writeError(w, http.StatusBadRequest, "invalid_grant", errDesc)
		return
	}
	writeJSON(w, http.StatusOK, resp)
}

func (s *Server) takeFailure() (failure, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.fail.remaining <= 0 {
		return failure{}, false
	}
	s.fail.remaining--
	return s.fail, true
}

// authenticate checks client credentials. Basic takes precedence because
// RFC 6749 forbids using more than one method, and clients that send Basic
// rarely also send form credentials. usedBasic reports whether Basic was
// attempted so the caller can add the required challenge header.
func (s *Server) authenticate(r *http.Request, form url.Values) (usedBasic, ok bool) {
	if id, secret, has := r.BasicAuth(); has {
		// RFC 6749 section 2.3.1 form-encodes credentials before Basic.
		if uid, err := url.QueryUnescape(id); err == nil {
			id = uid
		}
		if usec, err := url.QueryUnescape(secret); err == nil {
			secret = usec
		}
		return true, s.credentialsMatch(id, secret)
	}
	return false, s.credentialsMatch(form.Get("client_id"), form.Get("client_secret"))
}

func (s *Server) credentialsMatch(id, secret string) bool {
	// Evaluate both comparisons so timing does not reveal which one failed.
	idOK := subtle.ConstantTimeCompare([]byte(id), []byte(s.opts.ClientID))
	secOK := subtle.ConstantTimeCompare([]byte(secret), []byte(s.opts.ClientSecret))
	return idOK&secOK == 1
}

// refresh performs the grant under the lock so concurrent presentations of
// one token are serialised: with rotation exactly one of them can win. It
// returns a non-empty error description when the grant is refused.
func (s *Server) refresh(rt, scope string) (tokenResponse, string) {
	s.mu.Lock()
	defer s.mu.Unlock()

	st := s.lookupLocked(rt)
	if st.used {
		s.reuses++
		// Reuse suggests a leaked token; real providers kill the whole
		// chain so the thief's copy dies too.
		st.fam.revoked = true
		return tokenResponse{}, "refresh token already used"
	}
	if st.fam.revoked {
		return tokenResponse{}, "refresh token revoked"
	}

	next := rt
	// Rotating while hiding the new token would strand every client, and
	// providers that omit refresh_token (Google) do not rotate, so
	// OmitRefreshToken takes precedence over Rotate.
	if s.opts.Rotate && !s.opts.OmitRefreshToken {
		next = randomToken("rt-")
		st.used = true
		s.tokens[next] = &tokenState{fam: st.fam}
		st.fam.current = next
	}

	resp := tokenResponse{
		AccessToken:  randomToken("at-"),
		TokenType:    "Bearer",
		ExpiresIn:    int64(s.opts.Lifetime / time.Second),
		RefreshToken: next,
		Scope:        scope,
	}
	if s.opts.OmitRefreshToken {
		resp.RefreshToken = ""
	}
	st.issued = &Issued{
		AccessToken:  resp.AccessToken,
		RefreshToken: resp.RefreshToken,
		ExpiresIn:    resp.ExpiresIn,
	}
	s.successes++
	return resp, ""
}

// randomToken returns prefix followed by 32 hex characters from crypto/rand,
// so tokens are unguessable and never collide across families.
func randomToken(prefix string) string {
	var b [16]byte
	// crypto/rand.Read never returns an error since Go 1.24; it panics
	// instead if the system source fails.
	_, _ = rand.Read(b[:])
	return prefix + hex.EncodeToString(b[:])
}

func writeError(w http.ResponseWriter, status int, code, desc string) {
	writeJSON(w, status, errorResponse{Error: code, ErrorDescription: desc})
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	h := w.Header()
	h.Set("Content-Type", "application/json")
	// RFC 6749 section 5.1: token responses must not be cached.
	h.Set("Cache-Control", "no-store")
	h.Set("Pragma", "no-cache")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}
