package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"time"

	"github.com/tokenwarden/tokenwarden/internal/apikey"
	"github.com/tokenwarden/tokenwarden/internal/provider"
	"github.com/tokenwarden/tokenwarden/internal/proxy"
	"github.com/tokenwarden/tokenwarden/internal/store"
	"github.com/tokenwarden/tokenwarden/pkg/tokens"
)

// runProxy measures the token-injecting proxy in process: the latency it
// adds over a direct call to a local upstream, one request at a time, and
// its throughput with 64 callers.
func runProxy(ctx context.Context, b *bench, t *table) error {
	seq, total := b.opts.n(2000), b.opts.n(20000)
	const callers = 64
	t.setup = fmt.Sprintf("In-process proxy (internal/proxy on a tokens.Client and a store pool of 8) in front of a local upstream that answers 200 with 2 bytes. "+
		"Latency: %d sequential GETs direct and %d through the proxy, each after 100 warm-up requests; added latency is the proxied percentile minus the direct one. "+
		"Throughput: %d GETs through the proxy from %d concurrent callers on keep-alive connections.", seq, seq, total, callers)
	upstream := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { _, _ = io.WriteString(w, "ok") }))
	defer upstream.Close()
	if err := b.seed(ctx, 1, "http://127.0.0.1:1/token", "now() + interval '1 day'"); err != nil {
		return err
	}
	if _, err := b.pool.Exec(ctx, `UPDATE oauth_tokens SET params = jsonb_build_object('api_base_url', $2::text) WHERE name = $1`, benchRow, upstream.URL); err != nil {
		return err
	}
	st, err := store.Open(ctx, b.dbURL, 8)
	if err != nil {
		return err
	}
	defer st.Close()
	key, err := apikey.Generate()
	if err != nil {
		return err
	}
	if err := st.CreateAPIKey(ctx, key.ID, "bench", key.Hash, []string{benchRow}); err != nil {
		return err
	}
	c, err := tokens.Open(ctx, b.dbURL, &tokens.Options{Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		return err
	}
	defer c.Close()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	srv := &http.Server{Handler: proxy.New(proxy.Config{Tokens: c, Keys: st, Connections: st, Catalogue: provider.NewCatalogue(),
		Logger: slog.New(slog.DiscardHandler)}), ReadHeaderTimeout: 10 * time.Second}
	var serving sync.WaitGroup
	serving.Go(func() { _ = srv.Serve(ln) })
	defer func() { _ = srv.Close(); serving.Wait() }()
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: callers}}
	call := func(url string, auth bool) error {
		req, err := http.NewRequestWithContext(ctx, "GET", url, nil)
		if err != nil {
			return err
		}
		if auth {
			req.Header.Set("Authorization", "Bearer "+key.Secret)
		}
		resp, err := client.Do(req)
		if err != nil {
			return err
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 {
			return fmt.Errorf("GET %s: %s", url, resp.Status)
		}
		return nil
	}
	proxied := "http://" + ln.Addr().String() + "/proxy/" + benchRow + "/x"
	time1 := func(url string, auth bool) ([]time.Duration, error) {
		var out []time.Duration
		for i := range seq + 100 {
			start := time.Now()
			if err := call(url, auth); err != nil {
				return nil, err
			}
			if i >= 100 {
				out = append(out, time.Since(start))
			}
		}
		return out, nil
	}
	direct, err := time1(upstream.URL+"/x", false)
	if err != nil {
		return err
	}
	via, err := time1(proxied, true)
	if err != nil {
		return err
	}
	p50, p99 := percentile(via, 50)-percentile(direct, 50), percentile(via, 99)-percentile(direct, 99)
	t.add("direct: p50 / p99", ms(percentile(direct, 50))+" / "+ms(percentile(direct, 99)))
	t.add("through the proxy: p50 / p99", ms(percentile(via, 50))+" / "+ms(percentile(via, 99)))
	t.check("added latency, p50", ms(p50), "≤ 1 ms", p50 <= time.Millisecond)
	t.check("added latency, p99", ms(p99), "≤ 5 ms", p99 <= 5*time.Millisecond)
	var next atomic.Int64
	var wg sync.WaitGroup
	errs := make(chan error, callers)
	start := time.Now()
	for range callers {
		wg.Go(func() {
			for next.Add(1) <= int64(total) {
				if err := call(proxied, true); err != nil {
					errs <- err
					return
				}
			}
		})
	}
	wg.Wait()
	wall := time.Since(start)
	close(errs)
	if err := <-errs; err != nil {
		return err
	}
	rate := float64(total) / wall.Seconds()
	t.check("throughput", fmt.Sprintf("%.0f requests/s", rate), "≥ 3,000 requests/s", rate >= 3000)
	return nil
}
