package main

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/tokenwarden/tokenwarden/internal/mockprovider"
	"github.com/tokenwarden/tokenwarden/internal/pgtest"
)

func TestEventsShowWhyAConnectionDied(t *testing.T) {
	t.Parallel()
	dsn := pgtest.New(t)
	prov, tokenURL := newProvider(t, mockprovider.Options{Rotate: true, Lifetime: time.Hour})
	env := envFor(dsn)
	mustRun(t, env, record("ok", tokenURL, "", "rt-ok", "")+"\n"+record("dead", tokenURL, "", "rt-dead", ""), "import", "-")
	prov.Revoke("rt-dead")
	run(t, env, "", "once")

	out := mustRun(t, env, "", "events", "dead").stdout
	if !strings.Contains(out, "reauth") || !strings.Contains(out, "invalid_grant") || !strings.Contains(out, "400") {
		t.Fatalf("events of a revoked connection:\n%s", out)
	}
	var evs []struct {
		Outcome string `json:"outcome"`
		Version *int64 `json:"version"`
	}
	if err := json.Unmarshal([]byte(mustRun(t, env, "", "events", "--json", "ok").stdout), &evs); err != nil ||
		len(evs) != 1 || evs[0].Outcome != "success" || evs[0].Version == nil || *evs[0].Version != 1 {
		t.Fatalf("events --json of a refreshed connection: %+v %v", evs, err)
	}
	if r := run(t, env, "", "events", "missing"); r.code != 1 || !strings.Contains(r.oneLine(t), "no such connection") {
		t.Fatalf("events of a missing name: %s", r)
	}
	if r := run(t, env, "", "events", "ok", "--limit", "0"); r.code != 2 {
		t.Fatalf("--limit 0: %s", r)
	}
}
