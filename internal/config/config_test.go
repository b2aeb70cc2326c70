package config

import (
	"reflect"
	"slices"
	"strings"
	"testing"
)

func TestLoadFromValidates(t *testing.T) {
	t.Parallel()
	ok := map[string]string{"DATABASE_URL": "postgres://u:p@h:5432/db"}
	if c, err := LoadFrom(ok); err != nil || c.Concurrency != 16 || c.Lease.String() != "2m0s" {
		t.Fatalf("defaults: %+v %v", c, err)
	}
	for env, want := range map[string]string{
		"DATABASE_URL=":                              "DATABASE_URL is not set",
		"DATABASE_URL=http://x/db":                   "DATABASE_URL is malformed",
		"TOKENS_LEASE=10s":                           "TOKENS_LEASE",
		"TOKENS_CONCURRENCY=0":                       "TOKENS_CONCURRENCY",
		"TOKENS_DB_MAX_CONNS=1":                      "TOKENS_DB_MAX_CONNS",
		"TOKENS_LOG_FORMAT=xml":                      "TOKENS_LOG_FORMAT",
		"TOKENS_LOG_LEVEL=loud":                      "TOKENS_LOG_LEVEL",
		"TOKENS_POLL_INTERVAL=soon":                  "TOKENS_POLL_INTERVAL",
		"TOKENS_WEBHOOK_URL=https://hooks.example/x": "TOKENS_WEBHOOK_SECRET",
		"TOKENS_PROXY_MAX_CONCURRENT=0":              "TOKENS_PROXY_MAX_CONCURRENT",
		"TOKENS_PROXY_RESPONSE_HEADER_TIMEOUT=0s":    "TOKENS_PROXY_RESPONSE_HEADER_TIMEOUT",
	} {
		m := map[string]string{"DATABASE_URL": ok["DATABASE_URL"]}
		k, v, _ := strings.Cut(env, "=")
		m[k] = v
		_, err := LoadFrom(m)
		if err == nil || !strings.Contains(err.Error(), want) || strings.Contains(err.Error(), "\n") {
			t.Errorf("%s: %v, want one line mentioning %s", env, err, want)
		}
		if err != nil && strings.Contains(err.Error(), ":p@") {
			t.Errorf("%s: error repeats the database password: %v", env, err)
		}
	}
}

// TestListsAreTrimmed: TOKENS_ALLOWED_TOKEN_HOSTS="a.com, b.com" used to
// hold " b.com", which no host matches, so every endpoint on b.com was
// refused.
func TestListsAreTrimmed(t *testing.T) {
	t.Parallel()
	base := map[string]string{"DATABASE_URL": "postgres://u:p@h:5432/db"}
	for value, want := range map[string][]string{
		"a.com, b.com":                {"a.com", "b.com"},
		" *.example.org ,\tc.com\n":   {"*.example.org", "c.com"},
		"one":                         {"one"},
		"":                            nil,
		"login.microsoftonline.com ,": nil, // an error, below
	} {
		env := map[string]string{"DATABASE_URL": base["DATABASE_URL"], "TOKENS_ALLOWED_TOKEN_HOSTS": value}
		c, err := LoadFrom(env)
		if strings.HasSuffix(value, ",") {
			if err == nil || !strings.Contains(err.Error(), "TOKENS_ALLOWED_TOKEN_HOSTS") || !strings.Contains(err.Error(), "item 2") {
				t.Errorf("%q: %v, want an error naming TOKENS_ALLOWED_TOKEN_HOSTS and its empty item 2", value, err)
			}
			continue
		}
		if err != nil {
			t.Errorf("%q: %v", value, err)
			continue
		}
		if !slices.Equal(c.AllowedTokenHosts, want) {
			t.Errorf("%q read as %q, want %q", value, c.AllowedTokenHosts, want)
		}
	}
}

// TestEveryListIsAList keeps the rule for variables added later: a
// list-valued variable is a List, so it is trimmed like the others.
func TestEveryListIsAList(t *testing.T) {
	t.Parallel()
	for _, f := range reflect.VisibleFields(reflect.TypeFor[Config]()) {
		if f.Type.Kind() == reflect.Slice && f.Type != reflect.TypeFor[List]() {
			t.Errorf("%s (%s) is a %s, not a config.List", f.Name, f.Tag.Get("env"), f.Type)
		}
	}
}

// TestConsumerReadsVariablesAsTheWorkerDoes: the consumer CLI used to read
// TOKENS_POLL_ONLY as getenv(...) == "true", so "1" meant false to it and
// true to the worker, and "yes" was silently false.
func TestConsumerReadsVariablesAsTheWorkerDoes(t *testing.T) {
	t.Parallel()
	const dsn = "postgres://u:p@h:5432/db"
	for _, v := range []string{"true", "1", "TRUE", "false", "0", ""} {
		env := map[string]string{"DATABASE_URL": dsn, "TOKENS_POLL_ONLY": v}
		w, werr := LoadFrom(env)
		c, cerr := LoadConsumer(env)
		if werr != nil || cerr != nil || w.PollOnly != c.PollOnly {
			t.Errorf("TOKENS_POLL_ONLY=%q: worker %v (%v), consumer %v (%v)", v, w, werr, c, cerr)
		}
	}
	env := map[string]string{"DATABASE_URL": dsn, "TOKENS_POLL_ONLY": "yes", "TOKENS_ENCRYPTION_KEYS": "k:x"}
	for name, err := range map[string]error{"worker": second(LoadFrom(env)), "consumer": second(LoadConsumer(env))} {
		if err == nil || !strings.HasPrefix(err.Error(), "TOKENS_POLL_ONLY: ") || strings.Contains(err.Error(), "\n") {
			t.Errorf("%s: TOKENS_POLL_ONLY=yes: %v, want one line naming the variable", name, err)
		}
	}
	for _, bad := range []string{"", "http://x/db"} {
		if _, err := LoadConsumer(map[string]string{"DATABASE_URL": bad}); err == nil || !strings.Contains(err.Error(), "DATABASE_URL") {
			t.Errorf("consumer with DATABASE_URL=%q: %v", bad, err)
		}
	}
	// The consumer does not care about the worker's settings.
	if _, err := LoadConsumer(map[string]string{"DATABASE_URL": dsn, "TOKENS_CONCURRENCY": "0"}); err != nil {
		t.Errorf("consumer with a worker-only setting: %v", err)
	}
}

func second[T any](_ T, err error) error { return err }

func TestHTTPListenAddr(t *testing.T) {
	t.Parallel()
	for v, want := range map[string]string{"": "", "  ": "", " 127.0.0.1:8080 ": "127.0.0.1:8080"} {
		c, err := LoadFrom(map[string]string{"DATABASE_URL": "postgres://u@h/db", "TOKENS_HTTP_ADDR": v})
		if err != nil {
			t.Fatal(err)
		}
		got, err := c.HTTPListenAddr()
		if got != want || (want == "") != (err != nil) {
			t.Errorf("TOKENS_HTTP_ADDR=%q: %q, %v", v, got, err)
		}
	}
}
