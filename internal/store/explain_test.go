package store_test

import (
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"gorm.io/gorm"

	"github.com/tokenwarden/tokenwarden/internal/store"
)

// millionRows fills the table with 1,000,000 connections the way a large
// deployment in trouble looks, written directly (triggers off, their
// columns filled as the trigger would; the partial indexes dropped and
// built again after, from their own definitions) so that it takes
// seconds:
//
//	50,000 in backoff after a provider outage, expired
//	20,000 under a live lease, in the window
//	20,000 short-lived tokens parked in the window until their schedule
//	 1,000 whose backoff has ended: due
//	   100 due by expiry
//	   200 needs_reauth, 100 disabled
//	the rest valid for hours.
//
// Every hold lasts minutes, well past the test's end.
func millionRows(t *testing.T, st *store.Store) {
	t.Helper()
	var indexes []string
	if err := st.DB().Raw(`SELECT indexdef FROM pg_indexes
		WHERE tablename = 'oauth_tokens' AND indexdef LIKE '% WHERE %'`).Scan(&indexes).Error; err != nil || len(indexes) == 0 {
		t.Fatalf("partial indexes %v: %v", indexes, err)
	}
	exec(t, st, `DO $$ DECLARE i record; BEGIN
		FOR i IN SELECT indexname FROM pg_indexes WHERE tablename = 'oauth_tokens' AND indexdef LIKE '% WHERE %' LOOP
			EXECUTE 'DROP INDEX ' || quote_ident(i.indexname);
		END LOOP; END $$`)
	for _, q := range []string{
		`ALTER TABLE oauth_tokens DISABLE TRIGGER USER`,
		`INSERT INTO oauth_tokens (id, name, token_url, access_token, refresh_token, status,
		        access_token_expires, next_attempt_at, updating, updating_until, claim_id,
		        refresh_not_before, held_until)
		 SELECT gen_random_uuid(), 'c' || i, 'https://auth.example.com/token', 'at', 'rt',
		        CASE WHEN i <= 91100 THEN 'active' WHEN i <= 91300 THEN 'needs_reauth'
		             WHEN i <= 91400 THEN 'disabled' ELSE 'active' END,
		        CASE WHEN i <= 50000 THEN now() - interval '1 hour' + i * interval '1 ms'
		             WHEN i <= 70000 THEN now() + (i % 240) * interval '1 s'
		             WHEN i <= 90000 THEN now() + interval '270 s'
		             WHEN i <= 91100 THEN now() - interval '10 min' + i * interval '1 ms'
		             ELSE now() + interval '2 hours' + i * interval '100 ms' END,
		        CASE WHEN i <= 50000 THEN now() + interval '30 min'
		             WHEN i > 90000 AND i <= 91000 THEN now() - interval '1 s' END,
		        i > 50000 AND i <= 70000,
		        CASE WHEN i > 50000 AND i <= 70000 THEN now() + interval '10 min' END,
		        CASE WHEN i > 50000 AND i <= 70000 THEN gen_random_uuid() END,
		        CASE WHEN i > 70000 AND i <= 90000 THEN now() + interval '240 s' END,
		        CASE WHEN i <= 50000 THEN now() + interval '30 min'
		             WHEN i <= 70000 THEN now() + interval '10 min'
		             WHEN i <= 90000 THEN now() + interval '240 s'
		             WHEN i <= 91000 THEN now() - interval '1 s' END
		 FROM generate_series(1, 1000000) AS i`,
		`ALTER TABLE oauth_tokens ENABLE TRIGGER USER`,
	} {
		exec(t, st, q)
	}
	for _, q := range indexes {
		exec(t, st, q)
	}
	exec(t, st, `ANALYZE oauth_tokens`)
}

// plan is what a test checks of EXPLAIN (ANALYZE, BUFFERS)'s answer,
// summed over every node of the plan.
type plan struct {
	filtered int64    // rows of a table read and thrown away by a filter
	buffers  int64    // shared buffers hit or read
	seqScans []string // relations read whole
	ms       float64  // execution time, for the log only
	text     string
}

// explain runs q with args under EXPLAIN ANALYZE in a transaction that is
// rolled back, so that a claim or a release changes nothing.
func explain(t *testing.T, st *store.Store, q string, args map[string]any) plan {
	t.Helper()
	var raw string
	rollback := errors.New("rollback")
	var vars []any // a statement without parameters takes no map
	if args != nil {
		vars = append(vars, args)
	}
	err := st.DB().WithContext(t.Context()).Transaction(func(tx *gorm.DB) error {
		if err := tx.Raw("EXPLAIN (ANALYZE, BUFFERS, FORMAT JSON) "+q, vars...).Row().Scan(&raw); err != nil {
			return err
		}
		return rollback
	})
	if !errors.Is(err, rollback) {
		t.Fatal(err)
	}
	var doc []struct {
		Plan map[string]any
		Time float64 `json:"Execution Time"`
	}
	if err := json.Unmarshal([]byte(raw), &doc); err != nil || len(doc) != 1 {
		t.Fatalf("EXPLAIN answered %q: %v", raw, err)
	}
	var p plan
	var walk func(n map[string]any, depth int)
	var text strings.Builder
	walk = func(n map[string]any, depth int) {
		num := func(k string) int64 { f, _ := n[k].(float64); return int64(f) }
		if n["Relation Name"] != nil {
			p.filtered += num("Rows Removed by Filter")
		}
		if n["Node Type"] == "Seq Scan" && num("Actual Loops") > 0 {
			p.seqScans = append(p.seqScans, fmt.Sprint(n["Relation Name"]))
		}
		fmt.Fprintf(&text, "%s%v %v %v rows=%d filtered=%d\n", strings.Repeat("  ", depth), n["Node Type"],
			n["Relation Name"], n["Index Name"], num("Actual Rows"), num("Rows Removed by Filter"))
		kids, _ := n["Plans"].([]any)
		for _, k := range kids {
			walk(k.(map[string]any), depth+1)
		}
	}
	walk(doc[0].Plan, 0)
	num := func(k string) int64 { f, _ := doc[0].Plan[k].(float64); return int64(f) }
	p.buffers = num("Shared Hit Blocks") + num("Shared Read Blocks")
	p.ms = doc[0].Time
	p.text = text.String()
	return p
}

// At 1,000,000 rows, with 90,000 of them held inside the refresh window
// (backoff, lease, schedule), each of the worker's hot statements reads
// only what it returns or counts: no sequential scan of oauth_tokens, no
// table row thrown away by a filter, and a few thousand buffers at most.
// Before migration 00004 a claim read and discarded the held rows ahead of
// the due ones, next_due read every row in the window, the metrics read the
// whole table, and a release scanned it for claim_id.
func TestStatementsReadOnlyWhatTheyNeedAtAMillionRows(t *testing.T) {
	t.Parallel()
	st := setup(t)
	start := time.Now()
	millionRows(t, st)
	t.Logf("1,000,000 rows written in %v", time.Since(start).Round(time.Millisecond))
	window := map[string]any{"before_us": (5 * time.Minute).Microseconds()}

	claimArgs := map[string]any{"limit": 100, "before_us": (5 * time.Minute).Microseconds(), "lease_us": time.Minute.Microseconds()}
	var pairs []string
	if err := st.DB().Raw(`SELECT json_build_object('id', id, 'claim_id', claim_id)::text
		FROM oauth_tokens WHERE updating ORDER BY name LIMIT 100`).Scan(&pairs).Error; err != nil {
		t.Fatal(err)
	}
	releaseArgs := map[string]any{"claims": "[" + strings.Join(pairs, ",") + "]"}
	// The console's list: its first page, a page 900,000 rows in, and a
	// status filter (the 200 needs_reauth rows sit behind 50,000 others in
	// the list's order).
	page := func(status string, after *time.Time, name string) map[string]any {
		a := map[string]any{"status": status, "provider": "", "name_re": "", "limit": 51, "after_null": false,
			"after_expires": "-infinity", "after_name": name, "after_null_name": ""}
		if after != nil {
			a["after_expires"] = after.UTC().Format(time.RFC3339Nano)
		}
		return a
	}
	var deepExpiry time.Time
	var deepName string
	if err := st.DB().Raw(`SELECT access_token_expires, name FROM oauth_tokens
		ORDER BY access_token_expires NULLS LAST, name OFFSET 900000 LIMIT 1`).Row().Scan(&deepExpiry, &deepName); err != nil {
		t.Fatal(err)
	}

	for _, c := range []struct {
		name     string
		q        string
		args     map[string]any
		filtered int64
		buffers  int64
	}{
		{"claim", store.ClaimSQL, claimArgs, 10, 5000},
		{"next_due", store.NextDueSQL, window, 10, 100},
		// stats reads the 90,000 held rows for their soonest expiry
		// (stats.sql says why), packed here in a few thousand pages.
		{"stats", store.StatsSQL, window, 10, 5000},
		// The counts read the 300 out-of-service rows' index entries only.
		{"status counts", store.StatusCountsSQL, nil, 10, 100},
		{"release", store.ReleaseSQL, releaseArgs, 10, 5000},
		{"console list, first page", store.ConsoleListSQL, page("", nil, ""), 10, 100},
		{"console list, row 900,000", store.ConsoleListSQL, page("", &deepExpiry, deepName), 10, 100},
		{"console list, needs_reauth", store.ConsoleListSQL, page("needs_reauth", nil, ""), 10, 500},
	} {
		p := explain(t, st, c.q, c.args)
		t.Logf("%s: %d rows filtered, %d buffers, %.2f ms\n%s", c.name, p.filtered, p.buffers, p.ms, p.text)
		if len(p.seqScans) > 0 || p.filtered > c.filtered || p.buffers > c.buffers {
			t.Errorf("%s: sequential scans of %v, %d rows filtered (want at most %d), %d buffers (want at most %d):\n%s",
				c.name, p.seqScans, p.filtered, c.filtered, p.buffers, c.buffers, p.text)
		}
	}

	// And they still answer right: the 1,100 due rows are counted and
	// claimed, the soonest expiry is the backoff's, hours of valid tokens
	// aside.
	stats, err := st.Stats(t.Context(), 5*time.Minute)
	if err != nil || stats.Due != 1100 || stats.SoonestExpiry == nil || *stats.SoonestExpiry > -59*time.Minute ||
		stats.Connections["needs_reauth"] != 200 || stats.Connections["disabled"] != 100 {
		t.Fatalf("stats %+v (%v)", stats, err)
	}
	if d, ok, err := st.NextDue(t.Context(), 5*time.Minute); err != nil || !ok || d > 0 {
		t.Fatalf("next due in %v (%v %v), want now", d, ok, err)
	}
	claimed, err := st.Claim(t.Context(), 2000, 5*time.Minute, time.Minute)
	if err != nil || len(claimed) != 1100 {
		t.Fatalf("claimed %d (%v), want the 1,100 due rows", len(claimed), err)
	}

	// A page among 100,000 never-expiring tokens reads its page too.
	exec(t, st, `UPDATE oauth_tokens SET access_token_expires = NULL WHERE name LIKE 'c9%' AND status = 'active'`)
	exec(t, st, `ANALYZE oauth_tokens`)
	nullPage := page("", nil, "")
	nullPage["after_null"], nullPage["after_null_name"] = true, "c95"
	p := explain(t, st, store.ConsoleListSQL, nullPage)
	t.Logf("console list, never-expiring part: %d rows filtered, %d buffers, %.2f ms\n%s", p.filtered, p.buffers, p.ms, p.text)
	if len(p.seqScans) > 0 || p.filtered > 10 || p.buffers > 100 {
		t.Errorf("console list, never-expiring part: sequential scans of %v, %d rows filtered, %d buffers:\n%s", p.seqScans, p.filtered, p.buffers, p.text)
	}
}
