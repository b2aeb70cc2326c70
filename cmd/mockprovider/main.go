// Command mockprovider serves the mock OAuth2 provider from
// internal/mockprovider (its token endpoint, and /authorize for the
// authorization-code flow, with a consent page under --consent) on a TCP
// address, so tokenwarden can be run locally or demonstrated without a real
// provider.
package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/tokenwarden/tokenwarden/internal/config"
	"github.com/tokenwarden/tokenwarden/internal/mockprovider"
)

// secretEnv carries the client secret so it need not appear in the process
// list; it wins over the flag for the same reason.
const secretEnv = "MOCKPROVIDER_CLIENT_SECRET"

// environment is what the mock provider reads from the environment.
type environment struct {
	ClientSecret string `env:"MOCKPROVIDER_CLIENT_SECRET"` // secretEnv
}

func main() {
	log := slog.New(slog.NewTextHandler(os.Stderr, nil))
	if err := run(log, os.Args[1:]); err != nil {
		log.Error("mockprovider failed", "err", err)
		os.Exit(1)
	}
}

func run(log *slog.Logger, args []string) error {
	fs := flag.NewFlagSet("mockprovider", flag.ContinueOnError)
	addr := fs.String("addr", "127.0.0.1:8089", "listen address")
	lifetime := fs.Duration("lifetime", time.Hour, "access token lifetime reported as expires_in")
	rotate := fs.Bool("rotate", true, "issue a new refresh token on every refresh and reject the used one")
	latency := fs.Duration("latency", 0, "delay before answering each token request")
	clientID := fs.String("client-id", "", "require this client_id (enables client authentication)")
	clientSecret := fs.String("client-secret", "", "required client_secret (prefer $"+secretEnv+")")
	omitRT := fs.Bool("omit-refresh-token", false, "never return refresh_token (like Google); disables rotation")
	consent := fs.Bool("consent", false, "GET /authorize shows a consent page with Allow and Deny buttons instead of approving at once")
	revoked := fs.String("revoked", "", "comma-separated refresh tokens refused as revoked from the start, as if their user withdrew consent")
	if err := fs.Parse(args); err != nil {
		return err
	}
	env, err := config.Parse[environment](config.Environ())
	if err != nil {
		return err
	}
	if env.ClientSecret != "" {
		*clientSecret = env.ClientSecret
	}

	mp := mockprovider.New(mockprovider.Options{
		Lifetime:         *lifetime,
		Rotate:           *rotate,
		Latency:          *latency,
		ClientID:         *clientID,
		ClientSecret:     *clientSecret,
		OmitRefreshToken: *omitRT,
		Consent:          *consent,
	})

	for rt := range strings.SplitSeq(*revoked, ",") {
		if rt != "" {
			mp.Revoke(rt)
		}
	}

	ln, err := net.Listen("tcp", *addr)
	if err != nil {
		return err
	}
	srv := &http.Server{
		Handler:           logRequests(log, mp),
		ReadHeaderTimeout: 10 * time.Second,
	}

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()

	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	// Use the listener's address so ":0" reports the port actually bound.
	log.Info("mockprovider listening",
		"token_url", fmt.Sprintf("http://%s/token", ln.Addr()),
		"authorize_url", fmt.Sprintf("http://%s/authorize", ln.Addr()), "consent", *consent,
		"rotate", *rotate, "lifetime", *lifetime, "latency", *latency,
		"client_auth", *clientID != "", "omit_refresh_token", *omitRT)

	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	log.Info("shutting down")
	shutdownCtx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := srv.Shutdown(shutdownCtx); err != nil {
		return err
	}
	if err := <-errc; !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}

// maxCapture bounds how much of a response is buffered to find its OAuth2
// error code; error bodies are tiny.
const maxCapture = 4 << 10

// recorder remembers the status and the start of the body so the log line can
// name the outcome. The body itself is never logged because it holds tokens.
type recorder struct {
	http.ResponseWriter
	status int
	body   bytes.Buffer
}

func (r *recorder) WriteHeader(status int) {
	if r.status == 0 {
		r.status = status
	}
	r.ResponseWriter.WriteHeader(status)
}

func (r *recorder) Write(p []byte) (int, error) {
	if r.status == 0 {
		r.status = http.StatusOK
	}
	if room := maxCapture - r.body.Len(); room > 0 {
		r.body.Write(p[:min(len(p), room)])
	}
	return r.ResponseWriter.Write(p)
}

func logRequests(log *slog.Logger, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		rec := &recorder{ResponseWriter: w}
		next.ServeHTTP(rec, r)
		log.Info("request",
			"method", r.Method, "path", r.URL.Path,
			"outcome", outcome(rec), "status", rec.status)
	})
}

// outcome names a response without revealing its contents: "ok", the OAuth2
// error code, or a generic label.
func outcome(rec *recorder) string {
	switch rec.status {
	case 0:
		return "aborted" // client went away during the configured latency
	case http.StatusOK:
		return "ok"
	}
	var e struct {
		Error string `json:"error"`
	}
	if json.Unmarshal(rec.body.Bytes(), &e) == nil && isErrorCode(e.Error) {
		return e.Error
	}
	return "error"
}

// isErrorCode accepts only short snake_case words, so a body injected with
// FailNext cannot smuggle arbitrary text (such as a token) into the log.
func isErrorCode(s string) bool {
	if s == "" || len(s) > 40 {
		return false
	}
	for _, c := range s {
		if (c < 'a' || c > 'z') && c != '_' {
			return false
		}
	}
	return true
}
