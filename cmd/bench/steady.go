package main

import (
	"context"
	"fmt"
	"time"
)

// marginSQL records, for every refresh (a version bump), how long the
// previous access token still had to live when the new one was stored. It is
// created in the scratch database only, for the steady scenario.
const marginSQL = `
CREATE TABLE bench_margins (
    old_version bigint NOT NULL,
    old_expires timestamptz NOT NULL,
    margin_s    double precision NOT NULL
);
CREATE FUNCTION bench_record_margin() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF NEW.version > OLD.version AND OLD.access_token_expires IS NOT NULL THEN
        INSERT INTO bench_margins
        VALUES (OLD.version, OLD.access_token_expires,
                EXTRACT(EPOCH FROM OLD.access_token_expires - now()));
    END IF;
    RETURN NEW;
END $$;
CREATE TRIGGER bench_record_margin BEFORE UPDATE ON oauth_tokens
    FOR EACH ROW EXECUTE FUNCTION bench_record_margin();`

const dropMarginSQL = `
DROP TRIGGER IF EXISTS bench_record_margin ON oauth_tokens;
DROP FUNCTION IF EXISTS bench_record_margin();
DROP TABLE IF EXISTS bench_margins;`

// margins summarises bench_margins rows matching where.
type margins struct {
	n             int
	min, p1, p50  float64 // seconds
	belowTarget   int
	targetSeconds float64
}

func (b *bench) margins(ctx context.Context, where string, target float64) (margins, error) {
	m := margins{targetSeconds: target}
	err := b.pool.QueryRow(ctx, `
SELECT count(*), coalesce(min(margin_s), 0),
       coalesce(percentile_cont(0.01) WITHIN GROUP (ORDER BY margin_s), 0),
       coalesce(percentile_cont(0.5) WITHIN GROUP (ORDER BY margin_s), 0),
       count(*) FILTER (WHERE margin_s < $1)
FROM bench_margins WHERE `+where, target).Scan(&m.n, &m.min, &m.p1, &m.p50, &m.belowTarget)
	return m, err
}

func runSteady(ctx context.Context, b *bench) ([]*table, error) {
	o := b.opts
	t := &table{
		title: "steady",
		setup: fmt.Sprintf("%d rows with %s tokens, each at a uniformly random point of its refresh cycle (initial expiries spread over %s to %s from now, so the run starts in the steady state rather than with a backlog); `worker run` with TOKENS_REFRESH_BEFORE=%s, TOKENS_POLL_INTERVAL=1s, TOKENS_CONCURRENCY=%d, provider latency %s, for %s, then SIGTERM.",
			o.steadyRows, o.steadyLifetime, o.steadyBefore, o.steadyBefore+o.steadyLifetime, o.steadyBefore, o.steadyConc, o.latency, o.steadyDuration),
	}
	p := startProvider(o.steadyLifetime, o.latency)
	defer p.Close()
	// A token is refreshed RefreshBefore ahead of its expiry, once per
	// lifetime: in the steady state the next expiries are spread evenly
	// over (RefreshBefore, RefreshBefore + lifetime] from now.
	spread := fmt.Sprintf("now() + interval '%d microseconds' + g * (interval '%d microseconds' / %d)",
		o.steadyBefore.Microseconds(), o.steadyLifetime.Microseconds(), o.steadyRows)
	if err := b.seed(ctx, o.steadyRows, p.TokenURL(), spread); err != nil {
		return []*table{t}, err
	}
	if _, err := b.pool.Exec(ctx, marginSQL); err != nil {
		return []*table{t}, err
	}
	defer b.pool.Exec(context.WithoutCancel(ctx), dropMarginSQL)

	var started time.Time
	if err := b.pool.QueryRow(ctx, "SELECT now()").Scan(&started); err != nil {
		return []*table{t}, err
	}
	sampler, err := b.sampleConns(ctx)
	if err != nil {
		return []*table{t}, err
	}
	w, err := b.startWorker(ctx, "run", o.steadyConc, workerEnv{
		"TOKENS_REFRESH_BEFORE": o.steadyBefore.String(),
		"TOKENS_POLL_INTERVAL":  "1s",
	})
	if err != nil {
		return []*table{t}, err
	}
	logf("worker run for %s", o.steadyDuration)
	select {
	case <-ctx.Done():
	case <-time.After(o.steadyDuration):
	}
	_ = w.stop()
	res := w.wait()
	maxConns := sampler.finish()
	if res.err != nil {
		return []*table{t}, res.err
	}

	all, err := b.margins(ctx, "true", 10)
	if err != nil {
		return []*table{t}, err
	}
	// Tokens whose refresh window opened after the worker started: the
	// ones already inside it at the start had less than the window left
	// before the worker existed.
	cameDue, err := b.margins(ctx, fmt.Sprintf("old_expires - interval '%d microseconds' >= '%s'",
		o.steadyBefore.Microseconds(), started.Format(time.RFC3339Nano)), 10)
	if err != nil {
		return []*table{t}, err
	}
	stale, err := b.staleRows(ctx, p)
	if err != nil {
		return []*table{t}, err
	}
	share := 100 * res.cpu.Seconds() / res.wall.Seconds()
	t.check("worker CPU share", fmt.Sprintf("%.1f %% of a core", share), "≤ 25 %", share <= 25)
	t.add("worker CPU total / per refresh", fmt.Sprintf("%s / %s", secs(res.cpu), us(res.cpu/time.Duration(max(all.n, 1)))))
	t.add("worker peak RSS", mib(res.maxRSS))
	t.add("refreshes (all)", fmt.Sprint(all.n))
	t.check("min margin, tokens that came due during the run", fmt.Sprintf("%.2f s", cameDue.min), "≥ 10 s", cameDue.n > 0 && cameDue.min >= 10)
	t.add("p1 / median margin, same", fmt.Sprintf("%.2f s / %.2f s (%d refreshes)", cameDue.p1, cameDue.p50, cameDue.n))
	t.check("min margin, all refreshes", fmt.Sprintf("%.2f s", all.min), "≥ 10 s", all.min >= 10)
	t.add("p1 / median margin, all", fmt.Sprintf("%.2f s / %.2f s (%d below 10 s)", all.p1, all.p50, all.belowTarget))
	t.add("rows not holding the provider's newest refresh token", fmt.Sprint(stale))
	t.add("provider calls / reuses", fmt.Sprintf("%d / %d", p.Calls(), p.Reuses()))
	t.add("max worker DB connections (incl. LISTEN)", fmt.Sprint(maxConns))
	t.note("Margin = previous token's expiry − the store's now(), recorded by a BEFORE UPDATE trigger created in the scratch database. " +
		"\"All refreshes\" includes the tokens seeded already inside the refresh window, some of them with less than 10 s left before the worker started, " +
		"so that figure cannot reach 10 s by construction; the row above it counts only tokens whose refresh window opened while the worker ran.")
	return []*table{t}, nil
}
