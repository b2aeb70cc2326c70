// Package config reads tokenwarden's configuration from the environment.
// Configuration comes only from the environment, so that secrets such as the
// database password never appear in a process listing.
package config

import (
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"os"
	"reflect"
	"strings"
	"time"

	"github.com/caarlos0/env/v11"

	"github.com/tokenwarden/tokenwarden/internal/provider"
)

// Consumer is the configuration the consumer CLI reads: the database and
// how to read its tokens. The worker's Config holds it too, so that each
// variable is declared once.
type Consumer struct {
	DatabaseURL string `env:"DATABASE_URL"`
	// EncryptionKeys seal the table's secrets: "id:base64key[,...]", the
	// first encrypts, all decrypt.
	EncryptionKeys string `env:"TOKENS_ENCRYPTION_KEYS"`
	// PollOnly runs without LISTEN/NOTIFY, for PgBouncer in transaction
	// mode: the worker finds work only by polling (TOKENS_POLL_INTERVAL)
	// and consumers re-read waiting rows every second.
	PollOnly bool `env:"TOKENS_POLL_ONLY" envDefault:"false"`
}

// Config is the worker's configuration.
type Config struct {
	Consumer
	PollInterval    time.Duration `env:"TOKENS_POLL_INTERVAL" envDefault:"1m"`
	RefreshBefore   time.Duration `env:"TOKENS_REFRESH_BEFORE" envDefault:"5m"`
	Concurrency     int           `env:"TOKENS_CONCURRENCY" envDefault:"16"`
	DBMaxConns      int           `env:"TOKENS_DB_MAX_CONNS" envDefault:"4"`
	Lease           time.Duration `env:"TOKENS_LEASE" envDefault:"2m"`
	HTTPTimeout     time.Duration `env:"TOKENS_HTTP_TIMEOUT" envDefault:"30s"`
	LogLevel        string        `env:"TOKENS_LOG_LEVEL" envDefault:"info"`
	LogFormat       string        `env:"TOKENS_LOG_FORMAT" envDefault:"text"`
	ProvidersFile   string        `env:"TOKENS_PROVIDERS_FILE"`
	ReauthWarning   time.Duration `env:"TOKENS_REAUTH_WARNING" envDefault:"168h"`
	EventsRetention time.Duration `env:"TOKENS_EVENTS_RETENTION" envDefault:"720h"`
	// SpoolDir holds refresh results the database could not take before
	// the worker stopped, replayed on the next start.
	SpoolDir string `env:"TOKENS_SPOOL_DIR"`
	// AllowInsecureHTTP permits http:// token endpoints beyond loopback.
	AllowInsecureHTTP bool `env:"TOKENS_ALLOW_INSECURE_HTTP" envDefault:"false"`
	// AllowedTokenHosts restricts token endpoints to these host patterns.
	AllowedTokenHosts List `env:"TOKENS_ALLOWED_TOKEN_HOSTS"`
	// HTTPAddr is where `worker serve` (and `worker run`, when set) serves
	// the token HTTP API, health, readiness and metrics, e.g. 127.0.0.1:8080.
	// Empty: `worker run` serves no HTTP.
	HTTPAddr string `env:"TOKENS_HTTP_ADDR"`
	// ProxyMaxConcurrent bounds the requests /proxy/ serves at once (503
	// beyond); ProxyResponseHeaderTimeout bounds the wait for an upstream
	// API's response headers.
	ProxyMaxConcurrent         int           `env:"TOKENS_PROXY_MAX_CONCURRENT" envDefault:"1024"`
	ProxyResponseHeaderTimeout time.Duration `env:"TOKENS_PROXY_RESPONSE_HEADER_TIMEOUT" envDefault:"1m"`
	// WebhookURL receives needs_reauth and failing events, signed with
	// WebhookSecret (HMAC-SHA256); empty sends none.
	WebhookURL    string `env:"TOKENS_WEBHOOK_URL"`
	WebhookSecret string `env:"TOKENS_WEBHOOK_SECRET"`
	// ClientSecret is the client secret `worker authorize` stores, so that
	// it need not be typed or appear in a process listing.
	ClientSecret string `env:"TOKENS_CLIENT_SECRET"`
	// PublicURL is the console's external base URL (scheme, host and an
	// optional path prefix, e.g. https://tokens.example.com): the OAuth
	// callback is PublicURL/oauth/callback and reconnect links are
	// PublicURL/connect/..., and the console's cookie is Secure when it is
	// https. Empty: nothing can be (re)connected in a browser.
	PublicURL string `env:"TOKENS_PUBLIC_URL"`
	// ConsoleSessionTTL is how long a console sign-in lasts.
	ConsoleSessionTTL time.Duration `env:"TOKENS_CONSOLE_SESSION_TTL" envDefault:"12h"`
	// OIDC is the console's optional OpenID Connect sign-in.
	OIDC OIDC
}

// OIDC is the console's sign-in through the company's OpenID Connect
// provider. It is on when Issuer is set, and then needs the client and
// Allow: an issuer alone would let in anyone the provider knows (anyone
// with a Google account, for Google).
type OIDC struct {
	// Issuer is the provider's issuer URL, whose
	// /.well-known/openid-configuration describes it: https, or http on
	// loopback (tests, local runs).
	Issuer string `env:"TOKENS_OIDC_ISSUER"`
	// ClientID and ClientSecret are the console's client at the provider,
	// whose redirect URI is TOKENS_PUBLIC_URL/console/oidc/callback.
	ClientID     string `env:"TOKENS_OIDC_CLIENT_ID"`
	ClientSecret string `env:"TOKENS_OIDC_CLIENT_SECRET"`
	// Allow are who may sign in: exact emails (alice@acme.com) and whole
	// domains (@acme.com), compared without regard to case.
	Allow List `env:"TOKENS_OIDC_ALLOW"`
}

// Enabled reports whether OpenID Connect sign-in is configured.
func (o OIDC) Enabled() bool { return o.Issuer != "" }

// List is a comma-separated variable, such as TOKENS_ALLOWED_TOKEN_HOSTS.
// Every list-valued variable has this type, so that each is read the same
// way: items are trimmed of spaces, as people write "a.com, b.com", and an
// empty item is an error rather than silently dropped, since "a.com,," is
// a typo and an empty pattern would match nothing anyway.
type List []string

// UnmarshalText reads "a, b ,c" as [a b c].
func (l *List) UnmarshalText(text []byte) error {
	parts := strings.Split(string(text), ",")
	out := make(List, 0, len(parts))
	for i, p := range parts {
		p = strings.TrimSpace(p)
		if p == "" {
			return fmt.Errorf("item %d of the comma-separated list is empty", i+1)
		}
		out = append(out, p)
	}
	*l = out
	return nil
}

// Environ returns the process environment as the map the loaders read.
// Commands read it once, in main, and pass it down, so that tests run them
// with an environment of their own.
func Environ() map[string]string { return env.ToMap(os.Environ()) }

// Parse reads the variables T's fields name in their env tags from
// environ, with their defaults, and checks nothing but their syntax. The
// error is one line naming the variable at fault. Every command reads its
// configuration through Parse (or LoadFrom, LoadConsumer), so that a
// variable means the same everywhere: TOKENS_POLL_ONLY=1 is true for the
// worker and the consumer alike.
func Parse[T any](environ map[string]string) (*T, error) {
	var c T
	if err := env.ParseWithOptions(&c, env.Options{Environment: environ}); err != nil {
		return nil, parseError[T](err)
	}
	return &c, nil
}

// LoadFrom reads the worker's variables in environ and validates the
// result. The error is one line naming the variable at fault.
func LoadFrom(environ map[string]string) (*Config, error) {
	c, err := Parse[Config](environ)
	if err != nil {
		return nil, err
	}
	if err := c.Validate(); err != nil {
		return nil, err
	}
	return c, nil
}

// LoadConsumer reads the consumer's variables in environ and validates
// them.
func LoadConsumer(environ map[string]string) (*Consumer, error) {
	c, err := Parse[Consumer](environ)
	if err != nil {
		return nil, err
	}
	if err := CheckDatabaseURL(c.DatabaseURL); err != nil {
		return nil, err
	}
	return c, nil
}

// HTTPListenAddr returns TOKENS_HTTP_ADDR, which `worker serve` cannot do
// without.
func (c *Config) HTTPListenAddr() (string, error) {
	addr := strings.TrimSpace(c.HTTPAddr)
	if addr == "" {
		return "", errors.New("TOKENS_HTTP_ADDR is not set (e.g. 127.0.0.1:8080)")
	}
	return addr, nil
}

// Validate checks the values' ranges and their relations.
func (c *Config) Validate() error {
	if err := CheckDatabaseURL(c.DatabaseURL); err != nil {
		return err
	}
	switch {
	case c.PollInterval <= 0:
		return errors.New("TOKENS_POLL_INTERVAL must be positive")
	case c.RefreshBefore < 0:
		return errors.New("TOKENS_REFRESH_BEFORE must not be negative")
	case c.Concurrency < 1:
		return errors.New("TOKENS_CONCURRENCY must be at least 1")
	case c.DBMaxConns < 2:
		// One connection claims while another stores; fewer would serialise them.
		return errors.New("TOKENS_DB_MAX_CONNS must be at least 2")
	case c.HTTPTimeout <= 0:
		return errors.New("TOKENS_HTTP_TIMEOUT must be positive")
	case c.ProxyMaxConcurrent < 1:
		return errors.New("TOKENS_PROXY_MAX_CONCURRENT must be at least 1")
	case c.ProxyResponseHeaderTimeout <= 0:
		return errors.New("TOKENS_PROXY_RESPONSE_HEADER_TIMEOUT must be positive")
	case c.Lease <= c.HTTPTimeout:
		// A lease shorter than a request would let a second worker take over a
		// row whose refresh is still in flight: a double refresh.
		return fmt.Errorf("TOKENS_LEASE (%s) must be longer than TOKENS_HTTP_TIMEOUT (%s)", c.Lease, c.HTTPTimeout)
	}
	if _, err := c.Level(); err != nil {
		return err
	}
	if f := strings.ToLower(c.LogFormat); f != "json" && f != "text" {
		return fmt.Errorf("TOKENS_LOG_FORMAT must be json or text, not %q", c.LogFormat)
	}
	if err := checkWebhook(c.WebhookURL, c.WebhookSecret); err != nil {
		return err
	}
	if c.ConsoleSessionTTL < time.Minute {
		return errors.New("TOKENS_CONSOLE_SESSION_TTL must be at least 1m")
	}
	if c.PublicURL != "" {
		if _, err := c.PublicBase(); err != nil {
			return err
		}
	}
	return c.checkOIDC()
}

// checkOIDC refuses a partial OpenID Connect configuration, an issuer
// that is not https (http only on loopback), and an allow-list entry that
// is neither an email nor @domain. None of its errors repeats the client
// secret.
func (c *Config) checkOIDC() error {
	o := c.OIDC
	set := 0
	for _, v := range []string{o.Issuer, o.ClientID, o.ClientSecret} {
		if v != "" {
			set++
		}
	}
	switch {
	case set == 0 && len(o.Allow) == 0:
		return nil
	case set != 3:
		return errors.New("TOKENS_OIDC_ISSUER, TOKENS_OIDC_CLIENT_ID and TOKENS_OIDC_CLIENT_SECRET are set together or not at all")
	case len(o.Allow) == 0:
		return errors.New("TOKENS_OIDC_ALLOW must list who may sign in (alice@acme.com, @acme.com): without it anyone the provider knows could")
	case c.PublicURL == "":
		return errors.New("TOKENS_PUBLIC_URL must be set with TOKENS_OIDC_ISSUER: the provider sends people back to TOKENS_PUBLIC_URL/console/oidc/callback")
	}
	u, err := url.Parse(o.Issuer)
	if err != nil || u.Host == "" || u.User != nil || u.RawQuery != "" || u.Fragment != "" ||
		(u.Scheme != "https" && (u.Scheme != "http" || !provider.IsLoopback(strings.ToLower(u.Hostname())))) {
		return errors.New("TOKENS_OIDC_ISSUER is malformed: want the provider's https issuer URL (http only on loopback), e.g. https://accounts.google.com")
	}
	for _, a := range o.Allow {
		if !validAllow(a) {
			return fmt.Errorf("TOKENS_OIDC_ALLOW: %q is neither an email (alice@acme.com) nor a domain (@acme.com)", a)
		}
	}
	return nil
}

// validAllow reports whether a is an email or @domain: one @, a domain
// with a dot inside it, and no space.
func validAllow(a string) bool {
	_, domain, ok := strings.Cut(a, "@")
	return ok && !strings.ContainsAny(a, " \t") && !strings.Contains(domain, "@") &&
		strings.Contains(strings.Trim(domain, "."), ".")
}

// ErrNoPublicURL is the error for a browser flow without TOKENS_PUBLIC_URL.
var ErrNoPublicURL = errors.New("TOKENS_PUBLIC_URL is not set: set it to the URL people reach this server at (e.g. https://tokens.example.com), whose /oauth/callback is registered with the provider")

// PublicBase returns TOKENS_PUBLIC_URL without a trailing slash, the base
// of the OAuth callback (PublicBase()+"/oauth/callback") and of reconnect
// links, or ErrNoPublicURL when it is not set. It must be an absolute
// http(s) URL, with a path prefix at most: no credentials, query or
// fragment, which would make every URL built on it wrong.
func (c *Config) PublicBase() (string, error) {
	s := strings.TrimSpace(c.PublicURL)
	if s == "" {
		return "", ErrNoPublicURL
	}
	u, err := url.Parse(s)
	if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" || u.User != nil ||
		u.RawQuery != "" || u.ForceQuery || u.Fragment != "" || strings.Contains(s, "#") {
		return "", errors.New("TOKENS_PUBLIC_URL is malformed: want an absolute http(s) URL such as https://tokens.example.com, with no query or fragment")
	}
	return strings.TrimRight(s, "/"), nil
}

// CheckDatabaseURL rejects an empty or malformed DATABASE_URL with a message
// that never repeats the URL, which may hold a password.
func CheckDatabaseURL(s string) error {
	if strings.TrimSpace(s) == "" {
		return errors.New("DATABASE_URL is not set (e.g. postgres://user:pass@host:5432/db)")
	}
	u, err := url.Parse(s)
	if err != nil || (u.Scheme != "postgres" && u.Scheme != "postgresql") || u.Host == "" && u.Query().Get("host") == "" {
		return errors.New("DATABASE_URL is malformed: want postgres://user:pass@host:port/dbname")
	}
	return nil
}

// checkWebhook validates TOKENS_WEBHOOK_URL without repeating it (a webhook
// URL often embeds a token) and insists on a secret to sign with.
func checkWebhook(u, secret string) error {
	if u == "" {
		return nil
	}
	p, err := url.Parse(u)
	if err != nil || (p.Scheme != "https" && p.Scheme != "http") || p.Host == "" {
		return errors.New("TOKENS_WEBHOOK_URL is malformed: want an absolute http(s) URL")
	}
	if secret == "" {
		return errors.New("TOKENS_WEBHOOK_SECRET must be set with TOKENS_WEBHOOK_URL: events are signed with it")
	}
	return nil
}

// Level parses TOKENS_LOG_LEVEL.
func (c *Config) Level() (slog.Level, error) {
	var l slog.Level
	if err := l.UnmarshalText([]byte(c.LogLevel)); err != nil {
		return 0, fmt.Errorf("TOKENS_LOG_LEVEL must be debug, info, warn or error, not %q", c.LogLevel)
	}
	return l, nil
}

// parseError names the variable whose value did not parse; the library's
// message names the Go field instead.
func parseError[T any](err error) error {
	var pe env.ParseError
	if errors.As(err, &pe) {
		if tag := envTag(reflect.TypeFor[T](), pe.Name); tag != "" {
			return fmt.Errorf("%s: %s", tag, oneLine(pe.Err))
		}
	}
	return fmt.Errorf("configuration: %s", oneLine(err))
}

// envTag is the variable of the field called name in t or in a struct
// field of t (such as Config.OIDC), "" if there is none.
func envTag(t reflect.Type, name string) string {
	for _, f := range reflect.VisibleFields(t) {
		if tag := f.Tag.Get("env"); f.Name == name && tag != "" {
			return tag
		}
		if f.Type.Kind() == reflect.Struct && !f.Anonymous {
			if tag := envTag(f.Type, name); tag != "" {
				return tag
			}
		}
	}
	return ""
}

func oneLine(err error) string {
	return strings.Join(strings.Fields(err.Error()), " ")
}
