package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/tokenwarden/tokenwarden/internal/httpapi"
	"github.com/tokenwarden/tokenwarden/internal/mockprovider"
	"github.com/tokenwarden/tokenwarden/internal/pgtest"
	"github.com/tokenwarden/tokenwarden/internal/store"
	"github.com/tokenwarden/tokenwarden/internal/testutil"
	"github.com/tokenwarden/tokenwarden/pkg/tokens"
)

// TestLeastPrivilegeRolesWithEncryption runs the worker's commands (all that
// touch the database but migrate, which needs the owner, and authorize and
// check, which need a browser or a provider's validation endpoint) as a
// login role in tokenwarden_worker, and the consumer's reads as a login role
// in tokenwarden_consumer, with TOKENS_ENCRYPTION_KEYS set: the roles of
// sql/roles.sql must be enough for a deployment that seals its secrets.
func TestLeastPrivilegeRolesWithEncryption(t *testing.T) {
	t.Parallel()
	dsn := pgtest.New(t)
	admin := connect(t, dsn)
	mustRun(t, envFor(dsn), "", "migrate", "--roles")
	workerDSN := loginRole(t, dsn, "tokenwarden_worker")
	consumerDSN := loginRole(t, dsn, "tokenwarden_consumer")
	_, tokenURL := newProvider(t, mockprovider.Options{Lifetime: time.Hour, Rotate: true})
	env := envFor(workerDSN)
	env["TOKENS_ENCRYPTION_KEYS"] = newKeySpec("k1")

	past := `"expires_at":"2020-01-01T00:00:00Z"`
	mustRun(t, env, record("a", tokenURL, "at-SECRET-a", "rt-SECRET-a", past)+"\n"+
		record("b", tokenURL, "at-SECRET-b", "rt-SECRET-b", past), "import", "-")
	if r := getRow(t, admin, "a"); !sealedWith(str(r.RefreshToken), "k1") {
		t.Fatalf("import stored refresh token %q, want it sealed with k1", str(r.RefreshToken))
	}

	mustRun(t, env, "", "once")
	for _, name := range []string{"a", "b"} {
		if r := getRow(t, admin, name); r.Version != 1 || r.Status != "active" {
			t.Fatalf("after once, %s: %+v", name, r)
		}
	}
	if r := mustRun(t, env, "", "refresh", "a"); !strings.Contains(r.stdout, "refreshed a: version 2") {
		t.Fatalf("refresh: %s", r)
	}
	mustRun(t, env, "", "clear", "b")
	if r := getRow(t, admin, "b"); r.AccessToken != nil || !r.Due {
		t.Fatalf("after clear, b: %+v", r)
	}

	// run refreshes the cleared row, then stops on SIGTERM.
	p := startWith(t, env, "run")
	testutil.Eventually(t, 30*time.Second, "run to refresh b", func() bool { return getRow(t, admin, "b").Version == 2 })
	p.stop(t, syscall.SIGTERM)

	rotated := envFor(workerDSN)
	rotated["TOKENS_ENCRYPTION_KEYS"] = newKeySpec("k2") + "," + env["TOKENS_ENCRYPTION_KEYS"]
	if r := mustRun(t, rotated, "", "rekey"); !strings.Contains(r.stdout, `re-encrypted 2 connection(s) under key "k2"`) {
		t.Fatalf("rekey: %s", r)
	}
	if r := getRow(t, admin, "a"); !sealedWith(str(r.RefreshToken), "k2") {
		t.Fatalf("after rekey a's refresh token is %q, want it sealed with k2", str(r.RefreshToken))
	}
	env = rotated

	var evs []struct{ Outcome string }
	decode(t, mustRun(t, env, "", "events", "a", "--json"), &evs)
	if len(evs) != 2 || evs[0].Outcome != "success" || evs[1].Outcome != "success" {
		t.Fatalf("events of a: %+v, want the two successes", evs)
	}
	var list []listEntry
	decode(t, mustRun(t, env, "", "list", "--json"), &list)
	if len(list) != 2 || list[0].Name != "a" || list[0].Version != 2 || list[1].Name != "b" || list[1].Version != 2 {
		t.Fatalf("list: %+v", list)
	}

	key := strings.TrimSpace(mustRun(t, env, "", "apikey", "create", "--names", "*", "--label", "roles").stdout)
	spare := mustRun(t, env, "", "apikey", "create", "--names", "b")
	spareID := regexp.MustCompile(`created API key (\S+) `).FindStringSubmatch(spare.stderr)
	if key == "" || spareID == nil {
		t.Fatalf("apikey create: %s", spare)
	}
	mustRun(t, env, "", "apikey", "revoke", spareID[1])
	var apikeys []apikeyEntry
	decode(t, mustRun(t, env, "", "apikey", "list", "--json"), &apikeys)
	revoked := 0
	for _, k := range apikeys {
		if k.RevokedAt != nil {
			revoked++
		}
	}
	if len(apikeys) != 2 || revoked != 1 {
		t.Fatalf("apikey list: %+v", apikeys)
	}

	// serve: ready, and hands out a's token for the key.
	serveEnv := map[string]string{"TOKENS_HTTP_ADDR": "127.0.0.1:0"}
	for k, v := range env {
		serveEnv[k] = v
	}
	p = startWith(t, serveEnv, "serve")
	var addr []string
	listening := regexp.MustCompile(`"HTTP API listening" addr=(\S+)`)
	testutil.Eventually(t, 30*time.Second, "serve to listen", func() bool {
		addr = listening.FindStringSubmatch(p.output.String())
		return addr != nil
	})
	base := "http://" + addr[1]
	if code, body := httpGet(t, base+"/readyz", ""); code != http.StatusOK {
		t.Fatalf("/readyz as the worker role: %d %s", code, body)
	}
	code, body := httpGet(t, base+"/v1/tokens/a", key)
	var served struct {
		AccessToken string `json:"access_token"`
		Version     int64  `json:"version"`
	}
	if err := json.Unmarshal([]byte(body), &served); code != http.StatusOK || err != nil || served.AccessToken == "" || served.Version != 2 {
		t.Fatalf("token API as the worker role: %d %s", code, body)
	}
	p.stop(t, syscall.SIGTERM)

	// The consumer role: consumer get, Invalidate, and the token API's reads.
	cenv := []string{"DATABASE_URL=" + consumerDSN, "TOKENS_ENCRYPTION_KEYS=" + env["TOKENS_ENCRYPTION_KEYS"]}
	out, err := consumerCmd(t, cenv, "get", "a").Output()
	if got := strings.TrimSpace(string(out)); err != nil || got != served.AccessToken {
		t.Fatalf("consumer get as the consumer role: %v; printed %d bytes, want the served token", err, len(got))
	}

	ctx := t.Context()
	consumerKeys, err := tokens.ParseKeys(env["TOKENS_ENCRYPTION_KEYS"])
	if err != nil {
		t.Fatal(err)
	}
	client, err := tokens.Open(ctx, consumerDSN, &tokens.Options{EncryptionKeys: consumerKeys,
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		t.Fatal(err)
	}
	defer client.Close()
	keys, err := store.Open(ctx, workerDSN, 2)
	if err != nil {
		t.Fatal(err)
	}
	defer keys.Close()
	api := httptest.NewServer(httpapi.New(httpapi.Config{Tokens: client, Keys: keys, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))}))
	defer api.Close()
	if code, body := httpGet(t, api.URL+"/v1/tokens/b", key); code != http.StatusOK || !strings.Contains(body, `"version":2`) {
		t.Fatalf("token API reading as the consumer role: %d %s", code, body)
	}
	tok, err := client.Get(ctx, "a")
	if err != nil || tok.AccessToken != served.AccessToken {
		t.Fatalf("tokens.Get as the consumer role: %v", err)
	}
	if err := client.Invalidate(ctx, "a", tok.AccessToken); err != nil {
		t.Fatalf("tokens.Invalidate as the consumer role: %v", err)
	}
	if r := getRow(t, admin, "a"); !r.Due {
		t.Fatalf("Invalidate did not make a due: %+v", r)
	}
	mustRun(t, env, "", "once")
	if tok, err := client.Get(ctx, "a"); err != nil || tok.Version != 3 || tok.AccessToken == served.AccessToken {
		t.Fatalf("after Invalidate and a pass, the consumer role reads %v, %v", tok, err)
	}

	// Taking a connection out of service, and the consumer role seeing it.
	mustRun(t, env, "", "disable", "b")
	if out, err := consumerCmd(t, cenv, "get", "b").CombinedOutput(); err == nil || !strings.Contains(string(out), "disabled") {
		t.Fatalf("consumer get of a disabled connection: %v, %q", err, out)
	}
	mustRun(t, env, "", "enable", "b")
	if r := getRow(t, admin, "b"); r.Status != "active" {
		t.Fatalf("after enable b: %+v", r)
	}
	mustRun(t, env, "", "delete", "b", "--yes")
	if count(t, admin) != 1 {
		t.Fatal("delete as the worker role left the row")
	}
}

// sealedWith reports whether v is a sealed value naming key id
// ("twenc:VERSION:ID:...").
func sealedWith(v, id string) bool {
	parts := strings.SplitN(v, ":", 4)
	return len(parts) == 4 && parts[0] == "twenc" && parts[2] == id
}

// loginRole creates a login role (with a random password, so that it works
// whatever the server's authentication) in group, dropped when the test
// ends, and returns dsn with that role as its user.
func loginRole(t *testing.T, dsn, group string) string {
	t.Helper()
	b := make([]byte, 8)
	rand.Read(b)
	name, password := "tw_login_"+hex.EncodeToString(b), hex.EncodeToString(b)+"pw"
	c := connect(t, dsn)
	if _, err := c.Exec(t.Context(), "CREATE ROLE "+name+" LOGIN PASSWORD '"+password+"' IN ROLE "+group); err != nil {
		t.Fatalf("create login role in %s: %v", group, err)
	}
	t.Cleanup(func() {
		// Roles are cluster-wide: drop it from another database, since the
		// test's own is dropped after this.
		ctx := context.Background()
		c, err := pgx.Connect(ctx, pgtest.WithDatabase(dsn, "postgres"))
		if err == nil {
			_, err = c.Exec(ctx, "DROP ROLE IF EXISTS "+name)
			c.Close(ctx)
		}
		if err != nil {
			t.Errorf("drop role %s: %v", name, err)
		}
	})
	u, err := url.Parse(dsn)
	if err != nil {
		t.Fatal(err)
	}
	u.User = url.UserPassword(name, password)
	return u.String()
}

// stop signals the process and fails the test unless it exits 0 with no
// planted secret in its output.
func (p *proc) stop(t *testing.T, sig syscall.Signal) {
	t.Helper()
	if err := p.cmd.Process.Signal(sig); err != nil {
		t.Fatalf("signal: %v", err)
	}
	if code := p.wait(t, 30*time.Second); code != 0 {
		t.Fatalf("worker %s exited %d after %s:\n%s", strings.Join(p.cmd.Args[1:], " "), code, sig, p.output.String())
	}
	if strings.Contains(p.output.String(), secretMark) {
		t.Fatalf("worker output holds a secret:\n%s", p.output.String())
	}
}

// decode parses a command's JSON output into v.
func decode(t *testing.T, r result, v any) {
	t.Helper()
	if err := json.Unmarshal([]byte(r.stdout), v); err != nil {
		t.Fatalf("%v: %s", err, r)
	}
}

func httpGet(t *testing.T, u, key string) (int, string) {
	t.Helper()
	req, err := http.NewRequestWithContext(t.Context(), http.MethodGet, u, nil)
	if err != nil {
		t.Fatal(err)
	}
	if key != "" {
		req.Header.Set("Authorization", "Bearer "+key)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("GET %s: %v", u, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("GET %s: %v", u, err)
	}
	return resp.StatusCode, string(b)
}

var (
	consumerOnce sync.Once
	consumerPath string
	consumerErr  error
)

// consumerCmd returns the consumer command (built once per test binary,
// next to the worker's) with exactly the environment env.
func consumerCmd(t *testing.T, env []string, args ...string) *exec.Cmd {
	t.Helper()
	dir := filepath.Dir(workerBinary(t))
	consumerOnce.Do(func() {
		consumerPath = filepath.Join(dir, "consumer")
		out, err := exec.Command("go", "build", "-o", consumerPath, "github.com/tokenwarden/tokenwarden/cmd/consumer").CombinedOutput()
		if err != nil {
			consumerErr = errors.New("go build consumer: " + err.Error() + "\n" + string(out))
		}
	})
	if consumerErr != nil {
		t.Fatal(consumerErr)
	}
	cmd := exec.Command(consumerPath, args...)
	cmd.Env = env
	return cmd
}
