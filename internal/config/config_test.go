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
	typ := reflect.TypeFor[Config]()
	for i := range typ.NumField() {
		f := typ.Field(i)
		if f.Type.Kind() == reflect.Slice && f.Type != reflect.TypeFor[List]() {
			t.Errorf("%s (%s) is a %s, not a config.List", f.Name, f.Tag.Get("env"), f.Type)
		}
	}
}
