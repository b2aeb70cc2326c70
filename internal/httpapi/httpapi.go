// Package httpapi serves connections' current tokens over HTTP, for
// applications that cannot link pkg/tokens, together with the health,
// readiness and metrics endpoints of the worker.
//
//	GET  /v1/tokens/{name}?wait=30s      the current token; long-polls during a refresh
//	POST /v1/tokens/{name}/invalidate    {"access_token": "<stale>"}: have it refreshed
//	GET  /healthz                        200 while the process is up
//	GET  /readyz                         200 when the database answers with the schema applied
//	GET  /metrics                        Prometheus
//
// The token endpoints need "Authorization: Bearer <API key>", and a key
// reads only the connections its patterns match. Tokens are read through
// pkg/tokens, never with SQL of this package's own. Neither tokens nor keys
// are ever logged.
package httpapi

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"time"

	"github.com/tokenwarden/tokenwarden/internal/apikey"
	"github.com/tokenwarden/tokenwarden/internal/store"
	"github.com/tokenwarden/tokenwarden/pkg/tokens"
)

const (
	// DefaultWait is the long poll of a GET without ?wait=.
	DefaultWait = 30 * time.Second
	// MaxWait is the longest ?wait= accepted.
	MaxWait = 5 * time.Minute

	maxBodyBytes = 64 << 10
)

// Tokens reads tokens; *tokens.Client is one.
type Tokens interface {
	Get(ctx context.Context, name string) (*tokens.Token, error)
	Invalidate(ctx context.Context, name, staleAccessToken string) error
}

// Keys looks up API keys; *store.Store is one.
type Keys interface {
	APIKeyByID(ctx context.Context, id string) (*store.APIKey, error)
	TouchAPIKey(ctx context.Context, id string) error
}

// Config is what the handler serves from.
type Config struct {
	Tokens Tokens
	Keys   Keys
	// Ready checks the database for /readyz; nil means always ready.
	Ready func(ctx context.Context) error
	// Metrics serves /metrics; nil leaves the endpoint out.
	Metrics http.Handler
	Logger  *slog.Logger
}

type api struct {
	Config
}

// New returns the handler of every endpoint.
func New(cfg Config) http.Handler {
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	a := &api{cfg}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /v1/tokens/{name}", a.getToken)
	mux.HandleFunc("POST /v1/tokens/{name}/invalidate", a.invalidate)
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		_, _ = io.WriteString(w, "ok\n")
	})
	mux.HandleFunc("GET /readyz", a.ready)
	if cfg.Metrics != nil {
		mux.Handle("GET /metrics", cfg.Metrics)
	}
	return mux
}

// tokenResponse is the body of a successful GET.
type tokenResponse struct {
	Name        string         `json:"name"`
	AccessToken string         `json:"access_token"`
	TokenType   string         `json:"token_type"`
	ExpiresAt   *time.Time     `json:"expires_at"` // null: never expires
	ExpiresIn   *int64         `json:"expires_in"` // seconds; null: never expires
	Version     int64          `json:"version"`
	Extra       map[string]any `json:"extra"`
}

// errorResponse is the body of every error.
type errorResponse struct {
	Error     string `json:"error"`
	Message   string `json:"message"`
	LastError string `json:"last_error,omitempty"`
}

func (a *api) getToken(w http.ResponseWriter, r *http.Request) {
	name := r.PathValue("name")
	if !a.authorize(w, r, name) {
		return
	}
	wait := DefaultWait
	if s := r.URL.Query().Get("wait"); s != "" {
		d, err := time.ParseDuration(s)
		if err != nil || d <= 0 || d > MaxWait {
			writeError(w, http.StatusBadRequest, errorResponse{Error: "bad_request",
				Message: "wait must be a Go duration greater than 0 and at most " + MaxWait.String() + ", e.g. 30s"})
			return
		}
		wait = d
	}
	ctx, cancel := context.WithTimeout(r.Context(), wait)
	defer cancel()
	tok, err := a.Tokens.Get(ctx, name)
	if err != nil {
		a.tokenError(w, r, name, err)
		return
	}
	resp := tokenResponse{Name: name, AccessToken: tok.AccessToken, TokenType: tok.TokenType, Version: tok.Version, Extra: tok.Extra}
	if resp.Extra == nil {
		resp.Extra = map[string]any{}
	}
	if !tok.Expiry.IsZero() {
		at := tok.Expiry.UTC()
		in := int64(time.Until(tok.Expiry).Seconds())
		resp.ExpiresAt, resp.ExpiresIn = &at, &in
	}
	w.Header().Set("Cache-Control", "no-store")
	writeJSON(w, http.StatusOK, resp)
}

func (a *api) invalidate(w http.ResponseWriter, r *http.Request) {
	name := r.PathValue("name")
	if !a.authorize(w, r, name) {
		return
	}
	var body struct {
		AccessToken string `json:"access_token"`
	}
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, maxBodyBytes))
	if err := dec.Decode(&body); err != nil || body.AccessToken == "" {
		writeError(w, http.StatusBadRequest, errorResponse{Error: "bad_request",
			Message: `the body must be JSON {"access_token": "<the token the API refused>"}`})
		return
	}
	if err := a.Tokens.Invalidate(r.Context(), name, body.AccessToken); err != nil {
		a.tokenError(w, r, name, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

// tokenError answers an error of pkg/tokens.
func (a *api) tokenError(w http.ResponseWriter, r *http.Request, name string, err error) {
	var re *tokens.ReauthError
	switch {
	case errors.Is(err, tokens.ErrNotFound):
		writeError(w, http.StatusNotFound, errorResponse{Error: "not_found", Message: "no connection named " + name})
	case errors.As(err, &re):
		writeError(w, http.StatusConflict, errorResponse{Error: "needs_reauth",
			Message: name + " needs re-authorization", LastError: re.LastError})
	case errors.Is(err, tokens.ErrDisabled):
		writeError(w, http.StatusConflict, errorResponse{Error: "disabled", Message: name + " is disabled"})
	case r.Context().Err() != nil:
		// The client left or the server is shutting down: nobody may be
		// listening, but say so in case someone is.
		writeError(w, http.StatusServiceUnavailable, errorResponse{Error: "unavailable", Message: "the request was cancelled"})
	case errors.Is(err, context.DeadlineExceeded):
		// err says what Get was waiting for (a refresh in progress, ...).
		writeError(w, http.StatusGatewayTimeout, errorResponse{Error: "timeout", Message: err.Error()})
	default:
		a.Logger.Error("token API: reading the token failed", "name", name, "err", err)
		writeError(w, http.StatusInternalServerError, errorResponse{Error: "internal", Message: "reading the token failed; see the server log"})
	}
}

// Authorize checks r's API key with keys and that it may read name, as the
// token endpoints do; if not, it has answered and returns false. The
// token-injecting proxy authenticates its callers with it.
func Authorize(w http.ResponseWriter, r *http.Request, keys Keys, log *slog.Logger, name string) bool {
	return (&api{Config{Keys: keys, Logger: log}}).authorize(w, r, name)
}

// authorize checks the request's API key and that it may read name; if not,
// it answers and returns false.
func (a *api) authorize(w http.ResponseWriter, r *http.Request, name string) bool {
	unauthorized := func(msg string) bool {
		w.Header().Set("WWW-Authenticate", `Bearer realm="tokenwarden"`)
		writeError(w, http.StatusUnauthorized, errorResponse{Error: "unauthorized", Message: msg})
		return false
	}
	scheme, key, ok := strings.Cut(r.Header.Get("Authorization"), " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") || strings.TrimSpace(key) == "" {
		return unauthorized("missing API key: send Authorization: Bearer <key>")
	}
	key = strings.TrimSpace(key)
	id, ok := apikey.ID(key)
	if !ok {
		return unauthorized("invalid API key")
	}
	k, err := a.Keys.APIKeyByID(r.Context(), id)
	switch {
	case errors.Is(err, store.ErrAPIKeyNotFound):
		return unauthorized("invalid API key")
	case err != nil:
		a.Logger.Error("token API: reading the API key failed", "key_id", id, "err", err)
		writeError(w, http.StatusServiceUnavailable, errorResponse{Error: "unavailable", Message: "cannot check the API key now"})
		return false
	case !apikey.Verify(key, k.KeyHash):
		return unauthorized("invalid API key")
	case k.RevokedAt != nil:
		return unauthorized("the API key was revoked")
	}
	if err := a.Keys.TouchAPIKey(r.Context(), id); err != nil {
		a.Logger.Warn("token API: recording API key use failed", "key_id", id, "err", err)
	}
	if !apikey.Allowed(k.Patterns, name) {
		writeError(w, http.StatusForbidden, errorResponse{Error: "forbidden", Message: "this API key may not read " + name})
		return false
	}
	return true
}

func (a *api) ready(w http.ResponseWriter, r *http.Request) {
	if a.Ready != nil {
		ctx, cancel := context.WithTimeout(r.Context(), 5*time.Second)
		defer cancel()
		if err := a.Ready(ctx); err != nil {
			a.Logger.Warn("not ready", "err", err)
			writeError(w, http.StatusServiceUnavailable, errorResponse{Error: "not_ready", Message: "the database does not answer or the schema is not applied"})
			return
		}
	}
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	_, _ = io.WriteString(w, "ready\n")
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

// WriteError answers status with the API's JSON error body, {"error":
// code, "message": msg}, marked not to be cached: the token-injecting
// proxy answers its own refusals the way the token endpoints do.
func WriteError(w http.ResponseWriter, status int, code, msg string) {
	writeError(w, status, errorResponse{Error: code, Message: msg})
}

func writeError(w http.ResponseWriter, status int, e errorResponse) {
	w.Header().Set("Cache-Control", "no-store")
	writeJSON(w, status, e)
}

// NewServer returns an http.Server for h with timeouts fit for the API:
// headers must come quickly, while a response may take up to MaxWait.
func NewServer(h http.Handler, log *slog.Logger) *http.Server {
	return &http.Server{
		Handler:           h,
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       30 * time.Second,
		WriteTimeout:      MaxWait + 30*time.Second,
		IdleTimeout:       2 * time.Minute,
		MaxHeaderBytes:    64 << 10,
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelWarn),
	}
}

// Serve serves h on ln until ctx ends, then shuts down gracefully: long
// polls in flight are answered 503 at once (their context is ctx's), and
// the server waits up to shutdownTimeout for responses to be written.
func Serve(ctx context.Context, ln net.Listener, h http.Handler, log *slog.Logger) error {
	const shutdownTimeout = 10 * time.Second
	srv := NewServer(h, log)
	srv.BaseContext = func(net.Listener) context.Context { return ctx }
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), shutdownTimeout)
	defer cancel()
	err := srv.Shutdown(sctx)
	if errors.Is(err, context.DeadlineExceeded) {
		err = srv.Close()
	}
	if serr := <-errc; !errors.Is(serr, http.ErrServerClosed) && err == nil {
		err = serr
	}
	return err
}
