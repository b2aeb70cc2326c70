package main

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
)

// claimSelectSQL is the inner SELECT of internal/store/sql/claim.sql with
// the worker's defaults as literals: TOKENS_REFRESH_BEFORE=5m and a claim
// batch of 64 (the concurrency).
const claimSelectSQL = `SELECT id, updating
    FROM oauth_tokens
    WHERE status = 'active'
      AND refresh_token IS NOT NULL
      AND access_token_expires <= now() + CAST(300000000 AS bigint) * interval '1 microsecond'
      AND (next_attempt_at IS NULL OR next_attempt_at <= now())
      AND (NOT updating OR updating_until < now())
    ORDER BY access_token_expires
    LIMIT 64
    FOR UPDATE SKIP LOCKED`

// scaleResult is the median of several passes over one table size.
type scaleResult struct {
	total  int
	wall   time.Duration // median
	maxRSS int64         // largest of the passes, KiB
	plan   string        // EXPLAIN of the claim SELECT, large table only
}

func runScale(ctx context.Context, b *bench) ([]*table, error) {
	o := b.opts
	t := &table{
		title: "scale",
		setup: fmt.Sprintf("%d due rows among N rows (the rest expire in a day), `worker once` with TOKENS_CONCURRENCY=64, provider latency %s; median wall time of %d passes per size (the due rows are made due again between passes).",
			o.scaleDue, o.scaleLatency, o.scaleReps),
	}
	var res []scaleResult
	for i, total := range []int{o.scaleSmall, o.scaleLarge} {
		if i > 0 {
			if err := b.reset(ctx); err != nil {
				return []*table{t}, err
			}
		}
		r, err := scalePasses(ctx, b, total, i == 1)
		if err != nil {
			return []*table{t}, err
		}
		res = append(res, r)
		t.add(fmt.Sprintf("pass wall time, %d rows", total), ms(r.wall))
		t.check(fmt.Sprintf("worker peak RSS, %d rows", total), mib(r.maxRSS), "≤ 64 MB", r.maxRSS <= 64*1024)
	}
	ratio := res[1].wall.Seconds() / res[0].wall.Seconds()
	t.check("wall time ratio (large / small)", fmt.Sprintf("%.2f×", ratio), "≤ 1.5×", ratio <= 1.5)
	t.note("`EXPLAIN (ANALYZE, BUFFERS)` of the claim query's inner SELECT (internal/store/sql/claim.sql with literal values) at %d rows, %d due:\n\n```\n%s\n```\n\n```\n%s\n```",
		o.scaleLarge, o.scaleDue, claimSelectSQL, res[1].plan)
	return []*table{t}, nil
}

func scalePasses(ctx context.Context, b *bench, total int, explain bool) (scaleResult, error) {
	o := b.opts
	r := scaleResult{total: total}
	p := startProvider(time.Hour, o.scaleLatency)
	defer p.Close()
	every := max(total/o.scaleDue, 1)
	expiry := fmt.Sprintf("CASE WHEN g %% %d = 0 THEN now() - interval '1 hour' ELSE now() + interval '1 day' END", every)
	if err := b.seed(ctx, total, p.TokenURL(), expiry); err != nil {
		return r, err
	}
	if explain {
		plan, err := b.explainClaim(ctx)
		if err != nil {
			return r, err
		}
		r.plan = plan
	}
	var walls []time.Duration
	for rep := range o.scaleReps {
		if rep > 0 {
			if _, err := b.pool.Exec(ctx, `UPDATE oauth_tokens SET access_token_expires = now() - interval '1 hour'
				WHERE last_refreshed_at IS NOT NULL`); err != nil {
				return r, err
			}
		}
		before := p.Successes()
		res := b.runWorker(ctx, "once", 64, nil)
		if res.err != nil {
			return r, res.err
		}
		if n := p.Successes() - before; n != int64(o.scaleDue) {
			return r, fmt.Errorf("pass %d over %d rows refreshed %d rows, want %d", rep, total, n, o.scaleDue)
		}
		walls = append(walls, res.wall)
		r.maxRSS = max(r.maxRSS, res.maxRSS)
	}
	r.wall = percentile(walls, 50)
	logf("scale %d rows: passes %v", total, walls)
	return r, nil
}

// explainClaim runs EXPLAIN (ANALYZE, BUFFERS) of the claim SELECT in a
// transaction it rolls back, so the rows it locks stay due.
func (b *bench) explainClaim(ctx context.Context) (string, error) {
	var lines []string
	err := pgx.BeginFunc(ctx, b.pool, func(tx pgx.Tx) error {
		rows, err := tx.Query(ctx, "EXPLAIN (ANALYZE, BUFFERS) "+claimSelectSQL)
		if err != nil {
			return err
		}
		var line string
		_, err = pgx.ForEachRow(rows, []any{&line}, func() error {
			lines = append(lines, line)
			return nil
		})
		if err != nil {
			return err
		}
		return errRollback
	})
	if err != nil && err != errRollback {
		return "", err
	}
	return strings.Join(lines, "\n"), nil
}

var errRollback = fmt.Errorf("rollback")
