package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
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
	return runProxyStreams(ctx, b, t, key.Secret)
}

// streamRound is one round of concurrent streams and the proxy process's
// memory around it.
type streamRound struct {
	body                            int   // bytes each way per stream
	open                            int64 // most streams the upstream held at once
	before, peak, after             int64 // VmRSS in KiB
	heapBefore, heapPeak, heapAfter float64
}

// Streams: each side sends its body in streamChunks chunks, streamPause
// apart.
const (
	streamChunks = 32
	streamPause  = 20 * time.Millisecond
)

// runProxyStreams sends concurrent requests whose bodies stream slowly
// both ways through the proxy of `worker serve`, run as its own process as
// in production: the client sends its body in chunks, and the upstream
// reads it and answers with as many. Two rounds, each on a fresh process,
// differ only in the bodies' size (64 KiB, then 1 MiB each way), so
// memory that grew with the bodies would show as the difference between
// them.
func runProxyStreams(ctx context.Context, b *bench, t *table, secret string) error {
	streams := b.opts.n(1000)
	var open, most atomic.Int64
	upstream := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		raise(&most, open.Add(1))
		defer open.Add(-1)
		got, _ := io.Copy(io.Discard, r.Body)
		size, _ := strconv.Atoi(r.URL.Query().Get("size"))
		if got != int64(size) {
			http.Error(w, fmt.Sprintf("got %d bytes, want %d", got, size), http.StatusBadRequest)
			return
		}
		w.Header().Set("Content-Length", strconv.Itoa(size))
		_ = slowly(r.Context(), w, size)
	}))
	defer upstream.Close()
	if _, err := b.pool.Exec(ctx, `UPDATE oauth_tokens SET params = jsonb_build_object('api_base_url', $2::text) WHERE name = $1`, benchRow, upstream.URL); err != nil {
		return err
	}
	var rounds []streamRound
	for _, body := range []int{64 << 10, 1 << 20} {
		most.Store(0)
		r, err := proxyRound(ctx, b, secret, streams, body)
		if err != nil {
			return fmt.Errorf("streams of %d KiB: %w", body>>10, err)
		}
		r.open = most.Load()
		rounds = append(rounds, r)
	}
	for _, r := range rounds {
		t.add(fmt.Sprintf("%d streams of %d KiB each way (%d open at once): RSS before / peak / 1 s after", streams, r.body>>10, r.open),
			mib(r.before)+" / "+mib(r.peak)+" / "+mib(r.after))
		t.add(fmt.Sprintf("%d streams of %d KiB each way: heap in use before / peak / 1 s after", streams, r.body>>10),
			mb(r.heapBefore)+" / "+mb(r.heapPeak)+" / "+mb(r.heapAfter))
	}
	// Bodies up to the replay budget are held for the 401 retry, so up
	// to that much more memory is expected from the larger bodies; past
	// it, memory must not grow with the bodies at all.
	small, large := rounds[0], rounds[1]
	growth := float64(large.peak-large.before) / float64(max(small.peak-small.before, 1))
	t.add("RSS growth during the streams, 1 MiB bodies over 64 KiB bodies (16× the bytes)", fmt.Sprintf("%.2f×", growth))
	extra := large.peak - small.peak
	t.check("peak RSS, 1 MiB bodies less 64 KiB bodies", mib(extra), "≤ 64 MiB, the replay budget (flat beyond it)", extra <= proxy.DefaultMaxReplayMemory>>10)
	t.notes = append(t.notes, fmt.Sprintf("Streams: `worker serve` as its own process (TOKENS_PROXY_MAX_CONCURRENT=%d), a fresh one per round, in front of an upstream that reads each body and answers one as large; "+
		"each side sends its body in %d chunks %s apart. RSS is the process's VmRSS, sampled every 10 ms; heap in use is its go_memstats_heap_inuse_bytes from /metrics, "+
		"sampled as often as a scrape allows. Request bodies held for the 401 retry share a 64 MiB budget (every 64 KiB body; 64 of the 1 MiB ones), "+
		"the rest stream through 32 KiB buffers. Memory freed after a round returns to the OS lazily, so the figures after it fall only with the next garbage collection.",
		streams+24, streamChunks, streamPause))
	return nil
}

// proxyRound starts `worker serve`, sends streams concurrent streams of
// body bytes each way through its proxy, and measures its memory before,
// during and a second after.
func proxyRound(ctx context.Context, b *bench, secret string, streams, body int) (r streamRound, err error) {
	r.body = body
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return r, err
	}
	addr := ln.Addr().String()
	ln.Close()
	srv, err := b.startWorker(ctx, "serve", 1, "TOKENS_HTTP_ADDR="+addr, "TOKENS_PROXY_MAX_CONCURRENT="+strconv.Itoa(streams+24))
	if err != nil {
		return r, err
	}
	defer func() {
		_ = srv.stop()
		srv.wait()
		if out := strings.TrimSpace(srv.out.String()); err != nil && out != "" {
			err = fmt.Errorf("%w; worker serve logged: %s", err, out[strings.LastIndex(out, "\n")+1:])
		}
	}()
	base := "http://" + addr
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: streams}}
	defer client.CloseIdleConnections()
	if err := waitHealthy(ctx, client, base); err != nil {
		return r, err
	}
	rss := func() int64 { return procStatusKiB(srv.cmd.Process.Pid, "VmRSS") }
	r.before = rss()
	r.heapBefore, _ = heapInuse(ctx, client, base)
	stop := make(chan struct{})
	var sampling sync.WaitGroup
	sampling.Go(func() {
		tick := time.NewTicker(10 * time.Millisecond)
		defer tick.Stop()
		for {
			r.peak = max(r.peak, rss())
			if h, err := heapInuse(ctx, client, base); err == nil {
				r.heapPeak = max(r.heapPeak, h)
			}
			select {
			case <-stop:
				return
			case <-tick.C:
			}
		}
	})
	var wg sync.WaitGroup
	errs := make(chan error, streams)
	for range streams {
		wg.Go(func() {
			if err := stream(ctx, client, base+"/proxy/"+benchRow+"/upload?size="+strconv.Itoa(body), secret, body); err != nil {
				errs <- err
			}
		})
	}
	wg.Wait()
	close(stop)
	sampling.Wait()
	close(errs)
	if err := <-errs; err != nil {
		return r, err
	}
	client.CloseIdleConnections()
	select {
	case <-ctx.Done():
		return r, ctx.Err()
	case <-time.After(time.Second):
	}
	r.after = rss()
	r.heapAfter, _ = heapInuse(ctx, client, base)
	return r, nil
}

// raise sets v to n if n is larger.
func raise(v *atomic.Int64, n int64) {
	for cur := v.Load(); n > cur; cur = v.Load() {
		if v.CompareAndSwap(cur, n) {
			return
		}
	}
}

// stream sends size bytes in streamChunks chunks through the proxy and
// reads the answer, which must be as long.
func stream(ctx context.Context, client *http.Client, url, secret string, size int) error {
	pr, pw := io.Pipe()
	go func() { pw.CloseWithError(slowly(ctx, pw, size)) }()
	req, err := http.NewRequestWithContext(ctx, "POST", url, pr)
	if err != nil {
		return err
	}
	req.ContentLength = int64(size)
	req.Header.Set("Authorization", "Bearer "+secret)
	resp, err := client.Do(req)
	if err != nil {
		return fmt.Errorf("stream: %w", err)
	}
	defer resp.Body.Close()
	n, err := io.Copy(io.Discard, resp.Body)
	if err != nil {
		return fmt.Errorf("stream: %s, reading the answer after %d bytes: %w", resp.Status, n, err)
	}
	if resp.StatusCode != 200 || n != int64(size) {
		err = fmt.Errorf("stream: %s with %d bytes, want 200 with %d", resp.Status, n, size)
	}
	return err
}

// slowly writes size bytes to w in streamChunks chunks, streamPause
// apart, flushing each.
func slowly(ctx context.Context, w io.Writer, size int) error {
	chunk := make([]byte, size/streamChunks)
	for i := range streamChunks {
		if i > 0 {
			select {
			case <-ctx.Done():
				return ctx.Err()
			case <-time.After(streamPause):
			}
		}
		if _, err := w.Write(chunk); err != nil {
			return err
		}
		if f, ok := w.(http.Flusher); ok {
			f.Flush()
		}
	}
	return nil
}

// waitHealthy waits up to 30 s for /healthz of the server at base.
func waitHealthy(ctx context.Context, client *http.Client, base string) error {
	deadline := time.Now().Add(30 * time.Second)
	for {
		req, err := http.NewRequestWithContext(ctx, "GET", base+"/healthz", nil)
		if err != nil {
			return err
		}
		resp, err := client.Do(req)
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				return nil
			}
			err = errors.New(resp.Status)
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("worker serve did not answer /healthz within 30 s: %w", err)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// heapInuse reads go_memstats_heap_inuse_bytes from the server's /metrics.
func heapInuse(ctx context.Context, client *http.Client, base string) (float64, error) {
	req, _ := http.NewRequestWithContext(ctx, "GET", base+"/metrics", nil)
	resp, err := client.Do(req)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return 0, err
	}
	for line := range strings.Lines(string(body)) {
		if rest, ok := strings.CutPrefix(line, "go_memstats_heap_inuse_bytes "); ok {
			return strconv.ParseFloat(strings.TrimSpace(rest), 64)
		}
	}
	return 0, errors.New("no go_memstats_heap_inuse_bytes in /metrics")
}

func mb(bytes float64) string { return fmt.Sprintf("%.1f MB", bytes/(1<<20)) }
