package main

import (
	"bufio"
	"context"
	"crypto/rand"
	"encoding/base64"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"time"
)

// runImport times `worker import` of a generated JSON Lines file of
// 1,000,000 connections, every one with a client secret and both tokens,
// with encryption on: the path by which teams move their tokens in.
func runImport(ctx context.Context, b *bench, t *table) error {
	n := b.opts.n(1_000_000)
	dir, err := os.MkdirTemp("", "twbench-import")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	path := filepath.Join(dir, "connections.jsonl")
	size, err := writeConnections(path, n)
	if err != nil {
		return err
	}
	key := make([]byte, 32)
	rand.Read(key)
	cmd := exec.CommandContext(ctx, b.workerBin, "import", path)
	cmd.Env = b.env(1, "TOKENS_ENCRYPTION_KEYS=bench:"+base64.StdEncoding.EncodeToString(key))
	p, err := startProc(cmd)
	if err != nil {
		return err
	}
	r := p.wait()
	if r.err != nil {
		return r.err
	}
	var rows int
	if err := b.pool.QueryRow(ctx, "SELECT count(*) FROM oauth_tokens WHERE refresh_token LIKE 'twenc:%'").Scan(&rows); err != nil {
		return err
	}
	t.setup = fmt.Sprintf("`worker import FILE` of %d new connections as JSON Lines (%.0f MB; each with client_id, client_secret, access_token, refresh_token, expires_in), TOKENS_ENCRYPTION_KEYS set: three secrets sealed per row, one transaction.", n, float64(size)/1e6)
	rate := float64(n) / r.wall.Seconds()
	t.check("wall time", secs(r.wall), "≤ 40 s at 1,000,000", r.wall <= time.Duration(float64(40*time.Second)*float64(n)/1e6))
	t.check("connections/s", fmt.Sprintf("%.0f", rate), "≥ 25,000", rate >= 25000)
	t.check("worker peak RSS", mib(r.maxRSS), "≤ 256 MB", r.maxRSS <= 256<<10)
	t.add("worker CPU total (user+sys)", secs(r.cpu))
	t.check("rows in the table", fmt.Sprintf("%d / %d", rows, n), "all", rows == n)
	return nil
}

// writeConnections writes n connection records to path and returns its size.
func writeConnections(path string, n int) (int64, error) {
	f, err := os.Create(path)
	if err != nil {
		return 0, err
	}
	w := bufio.NewWriterSize(f, 1<<20)
	for i := range n {
		fmt.Fprintf(w, `{"name":"imp-%07d","token_url":"https://auth.example.com/oauth2/token","client_id":"client-%d","client_secret":"cs-%s","access_token":"at-%s","refresh_token":"rt-%s","expires_in":3600}`+"\n",
			i, i%100, rand.Text(), rand.Text()+rand.Text(), rand.Text())
	}
	if err := w.Flush(); err != nil {
		f.Close()
		return 0, err
	}
	st, err := f.Stat()
	if err != nil {
		f.Close()
		return 0, err
	}
	return st.Size(), f.Close()
}
