package main

import (
	"bufio"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/oauth2"

	"github.com/tokenwarden/tokenwarden/internal/provider"
	"github.com/tokenwarden/tokenwarden/pkg/model"
)

// floorClientCommand is the hidden first argument that makes the bench
// binary a floor client (see runFloor) instead of the bench.
const floorClientCommand = "floor-client"

// runFloor (diagnostic, not in the default list) prices the layers under the
// worker's CPU per refresh. Child processes of the bench binary make the
// burst's exchanges against the same mock at the same concurrency, with no
// database, one layer more each time: a hand-written HTTP/1.1 exchange on
// one kept-alive TCP connection per goroutine (a write, a read, a JSON
// decode; no product code uses it, it is the least any client can cost on
// this machine); net/http alone (POST a refresh_token form with Basic
// auth, read and decode the JSON answer: the least any Go client built on
// net/http does); x/oauth2 over net/http; and provider.Refresher (x/oauth2
// and the provider shaping, as the worker calls it). The worker's figure
// minus the last is the cost of claiming, storing and the refresh pool.
func runFloor(ctx context.Context, b *bench) ([]*table, error) {
	o := b.opts
	n := o.burstRows
	t := &table{
		title: "floor (diagnostic)",
		setup: fmt.Sprintf("%d token exchanges by one child process at concurrency %d against the mock (latency %s), no database; CPU is the child's user+sys.", n, o.burstConc, o.latency),
	}
	p := startProvider(time.Hour, o.latency)
	defer p.Close()
	self, err := os.Executable()
	if err != nil {
		return []*table{t}, err
	}
	for _, m := range []struct{ mode, label string }{
		{"raw", "hand-written HTTP/1.1 on raw TCP (comparison only)"},
		{"nethttp", "net/http POST + JSON decode"},
		{"oauth2", "x/oauth2 over net/http, no shaping"},
		{"refresher", "provider.Refresher (x/oauth2 + shaping)"},
	} {
		logf("floor: %s, %d exchanges", m.mode, n)
		cmd := exec.CommandContext(ctx, self, floorClientCommand, "-mode", m.mode, "-url", p.TokenURL(),
			"-n", fmt.Sprint(n), "-c", fmt.Sprint(o.burstConc))
		cmd.Env = b.env(o.burstConc, nil)
		proc, err := startProc(cmd)
		if err != nil {
			return []*table{t}, err
		}
		r := proc.wait()
		if r.err != nil {
			return []*table{t}, r.err
		}
		t.add(m.label+": CPU per exchange / of which sys", fmt.Sprintf("%s / %s", us(r.cpu/time.Duration(n)), us(r.sys/time.Duration(n))))
		t.add(m.label+": peak RSS", mib(r.maxRSS))
	}
	return []*table{t}, nil
}

// floorClient is the child side of runFloor. It exits non-zero if any
// exchange fails, so a table row never prices failures.
func floorClient(args []string) int {
	fs := flag.NewFlagSet(floorClientCommand, flag.ContinueOnError)
	mode := fs.String("mode", "nethttp", "nethttp, oauth2, refresher or raw")
	tokenURL := fs.String("url", "", "token endpoint")
	n := fs.Int("n", 1000, "exchanges")
	c := fs.Int("c", 64, "concurrency")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	client := provider.NewHTTPClient(30*time.Second, *c)
	// One exchange serves every goroutine, as one Refresher serves the
	// worker's pool; only the raw one owns a connection, so each
	// goroutine makes its own.
	shared := bareExchange(client, *tokenURL)
	switch *mode {
	case "oauth2":
		shared = oauth2Exchange(client, *tokenURL)
	case "refresher":
		shared = refresherExchange(client, *tokenURL)
	}
	var next, failed atomic.Int64
	var firstErr sync.Once
	var wg sync.WaitGroup
	for range *c {
		wg.Go(func() {
			exchange := shared
			if *mode == "raw" {
				exchange = rawExchange(*tokenURL)
			}
			for i := next.Add(1); i <= int64(*n); i = next.Add(1) {
				ctx, cancel := context.Background(), context.CancelFunc(func() {})
				if *mode != "raw" {
					// Every net/http mode runs under the deadline the
					// Refresher sets itself, so the modes differ only in
					// the layers they add.
					ctx, cancel = context.WithTimeout(ctx, 30*time.Second)
				}
				err := exchange(ctx, i)
				cancel()
				if err != nil {
					failed.Add(1)
					firstErr.Do(func() { fmt.Fprintln(os.Stderr, "floor-client:", err) })
				}
			}
		})
	}
	wg.Wait()
	if failed.Load() > 0 {
		fmt.Fprintf(os.Stderr, "floor-client: %d of %d exchanges failed\n", failed.Load(), *n)
		return 1
	}
	return 0
}

func bareExchange(client *http.Client, tokenURL string) func(context.Context, int64) error {
	return func(ctx context.Context, i int64) error {
		form := url.Values{"grant_type": {"refresh_token"}, "refresh_token": {fmt.Sprintf("rt-floor-nethttp-%d", i)}}
		req, err := http.NewRequestWithContext(ctx, http.MethodPost, tokenURL, strings.NewReader(form.Encode()))
		if err != nil {
			return err
		}
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.Header.Set("Accept", "application/json")
		req.SetBasicAuth("bench", "bench-secret")
		resp, err := client.Do(req)
		if err != nil {
			return err
		}
		defer resp.Body.Close()
		body, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
		if err != nil {
			return err
		}
		var tok struct {
			AccessToken  string `json:"access_token"`
			RefreshToken string `json:"refresh_token"`
			ExpiresIn    int64  `json:"expires_in"`
		}
		if err := json.Unmarshal(body, &tok); err != nil {
			return err
		}
		if resp.StatusCode != http.StatusOK || tok.AccessToken == "" {
			return fmt.Errorf("status %d", resp.StatusCode)
		}
		return nil
	}
}

// oauth2Exchange is the refresh_token grant through x/oauth2 alone, with
// the style the worker sets for generic providers (Basic), so that the
// floor splits x/oauth2's cost from provider.Refresher's shaping.
func oauth2Exchange(client *http.Client, tokenURL string) func(context.Context, int64) error {
	cfg := oauth2.Config{ClientID: "bench", ClientSecret: "bench-secret",
		Endpoint: oauth2.Endpoint{TokenURL: tokenURL, AuthStyle: oauth2.AuthStyleInHeader}}
	return func(ctx context.Context, i int64) error {
		ctx = context.WithValue(ctx, oauth2.HTTPClient, client)
		tok, err := cfg.TokenSource(ctx, &oauth2.Token{RefreshToken: fmt.Sprintf("rt-floor-oauth2-%d", i)}).Token()
		if err == nil && tok.AccessToken == "" {
			err = errors.New("no access token")
		}
		return err
	}
}

func refresherExchange(client *http.Client, tokenURL string) func(context.Context, int64) error {
	r := provider.NewRefresher(provider.NewCatalogue(), client, nil)
	return func(ctx context.Context, i int64) error {
		id, secret, rt := "bench", model.Secret("bench-secret"), model.Secret(fmt.Sprintf("rt-floor-refresher-%d", i))
		res, err := r.Refresh(ctx, &model.OAuthToken{Name: "floor", Provider: "oauth2", TokenURL: &tokenURL,
			ClientID: &id, ClientSecret: &secret, RefreshToken: &rt})
		if err == nil && res.AccessToken == "" {
			err = errors.New("no access token")
		}
		return err
	}
}

// rawExchange returns an exchange that owns one kept-alive TCP connection
// and speaks just enough HTTP/1.1 to the mock for a refresh: the request in
// one write, a status line, headers up to Content-Length, the body. It
// understands nothing else (no chunking, TLS, redirects or proxies), which
// is why it is a yardstick and not a client.
func rawExchange(tokenURL string) func(context.Context, int64) error {
	u, err := url.Parse(tokenURL)
	if err != nil {
		return func(context.Context, int64) error { return err }
	}
	var conn net.Conn
	var rd *bufio.Reader
	auth := base64.StdEncoding.EncodeToString([]byte("bench:bench-secret"))
	return func(ctx context.Context, i int64) error {
		if conn == nil {
			var d net.Dialer
			if conn, err = d.DialContext(ctx, "tcp", u.Host); err != nil {
				return err
			}
			rd = bufio.NewReaderSize(conn, 2048)
		}
		body := fmt.Sprintf("grant_type=refresh_token&refresh_token=rt-floor-raw-%d", i)
		req := fmt.Sprintf("POST %s HTTP/1.1\r\nHost: %s\r\nAuthorization: Basic %s\r\nContent-Type: application/x-www-form-urlencoded\r\nAccept: application/json\r\nContent-Length: %d\r\n\r\n%s",
			u.RequestURI(), u.Host, auth, len(body), body)
		if _, err := io.WriteString(conn, req); err != nil {
			return err
		}
		status, err := rd.ReadString('\n')
		if err != nil {
			return err
		}
		if !strings.HasPrefix(status, "HTTP/1.1 200 ") {
			return fmt.Errorf("status line %q", strings.TrimSpace(status))
		}
		length := -1
		for {
			line, err := rd.ReadString('\n')
			if err != nil {
				return err
			}
			line = strings.TrimSpace(line)
			if line == "" {
				break
			}
			if k, v, ok := strings.Cut(line, ":"); ok && strings.EqualFold(k, "Content-Length") {
				if length, err = strconv.Atoi(strings.TrimSpace(v)); err != nil {
					return err
				}
			}
		}
		if length < 0 {
			return errors.New("answer without Content-Length")
		}
		buf := make([]byte, length)
		if _, err := io.ReadFull(rd, buf); err != nil {
			return err
		}
		var tok struct {
			AccessToken string `json:"access_token"`
		}
		if err := json.Unmarshal(buf, &tok); err != nil {
			return err
		}
		if tok.AccessToken == "" {
			return errors.New("no access token")
		}
		return nil
	}
}
