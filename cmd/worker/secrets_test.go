package main

import (
	"crypto/rand"
	"encoding/base64"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"

	"github.com/tokenwarden/tokenwarden/internal/mockprovider"
	"github.com/tokenwarden/tokenwarden/internal/pgtest"
)

// The worker runs at debug level through refreshes, rotations, refusals,
// transient failures and a provider that echoes the request into its error,
// and every command an operator would run afterwards; nothing any of them
// printed may contain a token, a refresh token, a client secret or the
// encryption key.
func TestNoSecretInAnyOutput(t *testing.T) {
	t.Parallel()
	dsn := pgtest.New(t)
	goodSecret := "cs-good-" + randHex(t)
	prov := mockprovider.New(mockprovider.Options{Rotate: true, ClientID: "cid", ClientSecret: goodSecret})
	good := httptest.NewServer(prov)
	defer good.Close()
	// A hostile endpoint: its error repeats everything it was sent.
	echo := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		user, pass, _ := r.BasicAuth()
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusBadRequest)
		fmt.Fprintf(w, `{"error":"invalid_request","error_description":"you sent %s as %s:%s"}`, url.QueryEscape(string(body)), user, pass)
	}))
	defer echo.Close()
	flaky := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		http.Error(w, "<html>upstream error for "+string(body)+"</html>", http.StatusBadGateway)
	}))
	defer flaky.Close()

	key := make([]byte, 32)
	rand.Read(key)
	keyB64 := base64.StdEncoding.EncodeToString(key)
	env := envFor(dsn)
	env["TOKENS_ENCRYPTION_KEYS"] = "k1:" + keyB64
	env["TOKENS_LOG_LEVEL"] = "debug"

	secrets := []string{keyB64}
	var file strings.Builder
	for _, c := range []struct{ name, url, secret string }{
		{"good", good.URL + "/token", goodSecret},
		{"revoked", good.URL + "/token", goodSecret},
		{"echo", echo.URL + "/token", "cs-echo-" + randHex(t)},
		{"flaky", flaky.URL + "/token", "cs-flaky-" + randHex(t)},
	} {
		at, rt := "at-"+c.name+"-"+randHex(t), "rt-"+c.name+"-"+randHex(t)
		secrets = append(secrets, at, rt, c.secret)
		fmt.Fprintf(&file, `{"name":%q,"token_url":%q,"client_id":"cid","client_secret":%q,"access_token":%q,"refresh_token":%q,"expires_in":1}`+"\n",
			c.name, c.url, c.secret, at, rt)
	}
	outputs := []result{}
	do := func(stdin string, args ...string) result {
		r := run(t, env, stdin, args...)
		outputs = append(outputs, r)
		return r
	}
	do(file.String(), "import", "-")
	prov.Revoke(rtOf(file.String(), "revoked"))
	do("", "once")
	do("", "refresh", "good")
	do("", "refresh", "echo")
	do("", "list")
	do("", "list", "--json")
	for _, n := range []string{"good", "revoked", "echo", "flaky"} {
		do("", "events", n)
		do("", "events", n, "--json")
	}
	do("", "check", "good")

	// Every token the provider issued counts too.
	for _, rt := range []string{rtOf(file.String(), "good")} {
		for rt != "" {
			issued, ok := prov.Issued(rt)
			if !ok {
				break
			}
			secrets = append(secrets, issued.AccessToken, issued.RefreshToken)
			if issued.RefreshToken == rt {
				break
			}
			rt = issued.RefreshToken
		}
	}
	if len(secrets) < 14 {
		t.Fatalf("only %d secrets collected; the test lost its teeth", len(secrets))
	}
	for _, r := range outputs {
		r.leaks(t, secrets...)
	}
}

func randHex(t *testing.T) string {
	b := make([]byte, 8)
	rand.Read(b)
	return fmt.Sprintf("%x", b)
}

// rtOf finds a connection's refresh token in an import file.
func rtOf(file, name string) string {
	for _, line := range strings.Split(file, "\n") {
		if strings.Contains(line, `"name":"`+name+`"`) {
			i := strings.Index(line, `"refresh_token":"`) + len(`"refresh_token":"`)
			return line[i : i+strings.Index(line[i:], `"`)]
		}
	}
	return ""
}
