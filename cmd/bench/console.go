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

// consoleCase is one list the console shows: a query, and how many pages of
// it are read in a row by following Next, how many times.
type consoleCase struct {
	name        string
	q           console.Query
	pages, reps int
}

// runConsole measures what one page of the console's connections list
// costs the server at 1,000,000 rows: the counts by status at the top and
// one page of 50, both read through the application as the list page reads
// them (console.Backend's StatusCounts and Connections), for the first
// page, deep pages reached by following the Next cursors, and each filter.
func runConsole(ctx context.Context, b *bench, t *table) error {
	n := b.opts.n(1_000_000)
	reps, deep := b.opts.n(20), b.opts.n(1000)
	// Expiries spread over an hour ago to a day ahead, one row in a hundred
	// never expiring; 3% needs_reauth, 1% disabled.
	if err := b.seedAs(ctx, n, "https://auth.example.com/token",
		"CASE WHEN g % 100 = 7 THEN NULL ELSE now() - interval '1 hour' + (g::bigint * 7919 % 90000) * interval '1 second' END",
		fmt.Sprintf("(ARRAY['%s'])[g / 100 %% %d + 1]", strings.Join(consoleProviders, "','"), len(consoleProviders)),
		"CASE WHEN g % 100 < 3 THEN 'needs_reauth' WHEN g % 100 = 3 THEN 'disabled' ELSE 'active' END"); err != nil {
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

	cases := []consoleCase{
		{"first page", console.Query{}, 1, reps * 5},
		{fmt.Sprintf("pages 2-%d, following Next", deep+1), console.Query{}, deep + 1, 1},
		{"status needs_reauth (3%)", console.Query{Status: "needs_reauth"}, 10, reps},
		{"status disabled (1%)", console.Query{Status: "disabled"}, 10, reps},
		{"provider xero (10%)", console.Query{Provider: "xero"}, 10, reps},
		{"name substring \"4242\"", console.Query{Name: "4242"}, 10, reps},
		{"name glob \"bench-00042*\"", console.Query{Name: "bench-00042*"}, 10, reps},
		{"status needs_reauth and provider slack (0.3%)", console.Query{Status: "needs_reauth", Provider: "slack"}, 10, reps},
	}
	t.setup = fmt.Sprintf("%d connections in a fresh database (names bench-0000001..., ten providers in turn, 3%% needs_reauth, 1%% disabled, "+
		"expiries spread over an hour ago to a day ahead, 1%% never expiring), VACUUM ANALYZEd. A page is what the list page asks the application "+
		"for (internal/app as console.Backend, in process, pool of %d): StatusCounts, then Connections for 50 rows; its server time is both calls. "+
		"Each case reads its pages in a row following the Next cursor (the first page of each case is page 1), the number of times given.",
		n, cfg.DBMaxConns)
	for _, c := range cases {
		var times, counts []time.Duration
		rows := 0
		for range c.reps {
			q := c.q
			for p := 0; p < c.pages; p++ {
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
		if c.pages > 1 && c.reps == 1 {
			// The deep case times every page but the first.
			times, counts = times[1:], counts[1:]
		}
		p95 := percentile(times, 95)
		t.check(fmt.Sprintf("%s: p50 / p95 / max (%d pages, %d rows)", c.name, len(times), rows),
			ms(percentile(times, 50))+" / "+ms(p95)+" / "+ms(percentile(times, 100)), "p95 ≤ 100 ms", p95 <= 100*time.Millisecond)
		logf("console %s: p95 %s, of which StatusCounts p95 %s", c.name, ms(p95), ms(percentile(counts, 95)))
		if c.name == "first page" {
			t.add("StatusCounts alone: p50 / p95", ms(percentile(counts, 50))+" / "+ms(percentile(counts, 95)))
		}
	}
	return nil
}
