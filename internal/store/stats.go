package store

import (
	"context"
	"database/sql"
	"fmt"
	"time"

	"github.com/tokenwarden/tokenwarden/pkg/model"
)

var (
	statsSQL        = query("stats")
	statusCountsSQL = query("status_counts")
)

// TableStats is what /metrics reports of the table, read at scrape time.
type TableStats struct {
	// Due counts rows a worker would claim now.
	Due int64
	// SoonestExpiry is the time until the soonest access-token expiry among
	// active refreshable rows, negative if already past; nil when there is
	// no such row.
	SoonestExpiry *time.Duration
	// Connections counts rows by status (active, needs_reauth, disabled).
	// needs_reauth and disabled are exact; active is exact on a table
	// under 10,000 rows and the planner's estimate above (status_counts.sql).
	Connections map[string]int64
}

// Stats reads the table's gauges; before is TOKENS_REFRESH_BEFORE. The
// active count is estimated on a large table (see status_counts.sql).
func (s *Store) Stats(ctx context.Context, before time.Duration) (*TableStats, error) {
	var (
		st      TableStats
		soonest sql.NullFloat64
	)
	err := s.db.WithContext(ctx).Raw(statsSQL, map[string]any{"before_us": before.Microseconds()}).
		Row().Scan(&st.Due, &soonest)
	if err != nil {
		return nil, fmt.Errorf("read table stats: %w", err)
	}
	if soonest.Valid {
		d := time.Duration(soonest.Float64 * float64(time.Second))
		st.SoonestExpiry = &d
	}
	if st.Connections, err = s.StatusCounts(ctx); err != nil {
		return nil, err
	}
	return &st, nil
}

// StatusCounts counts connections by status (active, needs_reauth,
// disabled): needs_reauth and disabled exactly, active exactly on a table
// under 10,000 rows and from the planner's estimate above
// (status_counts.sql). It reads neither the due rows nor the expiries, so
// that a backlog of due rows costs the console's pages nothing.
func (s *Store) StatusCounts(ctx context.Context) (map[string]int64, error) {
	var reauth, disabled, rows int64
	if err := s.db.WithContext(ctx).Raw(statusCountsSQL).Row().Scan(&reauth, &disabled, &rows); err != nil {
		return nil, fmt.Errorf("count connections by status: %w", err)
	}
	return map[string]int64{
		// An estimate can undershoot the exact counts it is reduced by.
		model.StatusActive: max(rows-reauth-disabled, 0), model.StatusNeedsReauth: reauth, model.StatusDisabled: disabled,
	}, nil
}
