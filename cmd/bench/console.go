package main

import (
	"context"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/tokenwarden/tokenwarden/internal/app"
	"github.com/tokenwarden/tokenwarden/internal/config"
	"github.com/tokenwarden/tokenwarden/internal/console"
)

// consoleProviders are the providers the console scenario's rows cycle
// through, so that a provider filter keeps a tenth of the table.
var consoleProviders = []string{"oauth2", "xero", "hubspot", "google", "microsoft",
	"salesforce", "slack", "github", "zoom", "quickbooks"}

// consoleProvider and consoleStatus are the seed's provider and status of
// row g: the provider changes every 100 rows, so that it is independent of
// the status; 3% needs_reauth, 1% disabled.
var (
	consoleProvider = fmt.Sprintf("(ARRAY['%s'])[g / 100 %% %d + 1]", strings.Join(consoleProviders, "','"), len(consoleProviders))
	consoleStatus   = "CASE WHEN g % 100 < 3 THEN 'needs_reauth' WHEN g % 100 = 3 THEN 'disabled' ELSE 'active' END"
)

// consoleCase is one list the console shows: a query, and how many pages of
// it are read in a row by following Next, how many times.
type consoleCase struct {
	name        string
	q           console.Query
	pages, reps int
	// deep: time the pages after the first only.
	deep bool
}

// runConsole measures what one page of the console's connections list
// costs the server at 1,000,000 rows: the counts by status at the top and
// one page of 50, both read through the application as the list page reads
// them (console.Backend's StatusCounts and Connections), for the first
// page, deep pages reached by following the Next cursors, and each filter;
// then the first page of a table with a backlog of due rows, as after the
// workers were stopped for an hour.
func runConsole(ctx context.Context, b *bench, t *table) error {
	n := b.opts.n(1_000_000)
	reps, deep := b.opts.n(20), b.opts.n(1000)
	// A healthy fleet: active tokens expire over the next day (none due),
	// needs_reauth and disabled ones expired over the last day, one in a
	// hundred never expires.
	if err := b.seedAs(ctx, n, "https://auth.example.com/token",
		`CASE WHEN g % 100 = 7 THEN NULL
		      WHEN g % 100 < 4 THEN now() - (g::bigint * 7919 % 86400) * interval '1 second'
		      ELSE now() + interval '10 minutes' + (g::bigint * 7919 % 86400) * interval '1 second' END`,
		consoleProvider, consoleStatus); err != nil {
		return err
	}
	cfg, err := config.LoadFrom(map[string]string{"DATABASE_URL": b.dbURL})
	if err != nil {
		return err
	}
	a, err := app.Open(ctx, cfg, slog.New(slog.DiscardHandler))
	if err != nil {
		return err
	}
	defer a.Close()
	var be console.Backend = a

	t.setup = fmt.Sprintf("%d connections in a fresh database (names bench-0000001..., ten providers in turn, 3%% needs_reauth, 1%% disabled, "+
		"1%% never expiring; the active tokens expire over the next day, the others expired over the last one), VACUUM ANALYZEd. "+
		"A page is what the list page asks the application for (internal/app as console.Backend, in process, pool of %d): "+
		"StatusCounts, then Connections for 50 rows; its server time is both calls. Each case reads its pages in a row following the "+
		"Next cursor (its first page is page 1), the number of times given. The last case seeds the table again with the active "+
		"expiries from an hour ago, so that an hour of them is due and unrefreshed, as after the workers were stopped for an hour.", n, cfg.DBMaxConns)
	cases := []consoleCase{
		{"first page", console.Query{}, 1, reps * 5, false},
		{fmt.Sprintf("pages 2-%d, following Next", deep+1), console.Query{}, deep + 1, 1, true},
		{"status needs_reauth (3%)", console.Query{Status: "needs_reauth"}, 10, reps, false},
		{"status disabled (1%)", console.Query{Status: "disabled"}, 10, reps, false},
		{"provider xero (10%)", console.Query{Provider: "xero"}, 10, reps, false},
		{"status needs_reauth and provider slack (0.3%)", console.Query{Status: "needs_reauth", Provider: "slack"}, 10, reps, false},
		{`name substring "4242"`, console.Query{Name: "4242"}, 10, reps, false},
		{`name glob "bench-00042*"`, console.Query{Name: "bench-00042*"}, 10, reps, false},
	}
	for _, c := range cases {
		if err := consolePages(ctx, be, t, c); err != nil {
			return err
		}
	}
	// The backlog: the same table, but the active tokens' expiries spread
	// from an hour ago, so that those of the first hour are due and
	// unrefreshed, scattered through the table as a day of refreshes
	// leaves them.
	if err := b.reset(ctx); err != nil {
		return err
	}
	if err := b.seedAs(ctx, n, "https://auth.example.com/token",
		`CASE WHEN g % 100 = 7 THEN NULL
		      WHEN g % 100 < 4 THEN now() - (g::bigint * 7919 % 86400) * interval '1 second'
		      ELSE now() - interval '1 hour' + (g::bigint * 7919 % 90000) * interval '1 second' END`,
		consoleProvider, consoleStatus); err != nil {
		return err
	}
	var due int
	if err := b.pool.QueryRow(ctx, "SELECT count(*) FROM oauth_tokens WHERE status = 'active' AND access_token_expires < now()").Scan(&due); err != nil {
		return err
	}
	return consolePages(ctx, be, t, consoleCase{fmt.Sprintf("first page, %d rows due (workers stopped for an hour)", due), console.Query{}, 1, reps * 5, false})
}

// consolePages reads c's pages and adds their server time to t.
func consolePages(ctx context.Context, be console.Backend, t *table, c consoleCase) error {
	var times, counts []time.Duration
	rows := 0
	for range c.reps {
		q := c.q
		for range c.pages {
			start := time.Now()
			if _, err := be.StatusCounts(ctx); err != nil {
				return err
			}
			counted := time.Now()
			page, err := be.Connections(ctx, q)
			if err != nil {
				return fmt.Errorf("%s: %w", c.name, err)
			}
			times, counts = append(times, time.Since(start)), append(counts, counted.Sub(start))
			rows += len(page.Rows)
			if page.Next == "" {
				break
			}
			q.After = page.Next
		}
	}
	if c.deep && len(times) > 1 {
		times, counts = times[1:], counts[1:]
	}
	p95 := percentile(times, 95)
	t.check(fmt.Sprintf("%s: p50 / p95 / max (%d pages, %d rows)", c.name, len(times), rows),
		ms(percentile(times, 50))+" / "+ms(p95)+" / "+ms(percentile(times, 100)), "p95 ≤ 100 ms", p95 <= 100*time.Millisecond)
	t.add(c.name+": of which StatusCounts, p50 / p95", ms(percentile(counts, 50))+" / "+ms(percentile(counts, 95)))
	logf("console %s: p95 %s, of which StatusCounts p95 %s", c.name, ms(p95), ms(percentile(counts, 95)))
	return nil
}
