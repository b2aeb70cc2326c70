package config

import (
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
