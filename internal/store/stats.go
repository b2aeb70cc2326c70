package store

import (
	"context"
	"database/sql"
	"fmt"
	"time"

	"github.com/tokenwarden/tokenwarden/pkg/model"
)

var statsSQL = query("stats")

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
	// under 10,000 rows and the planner's estimate above (stats.sql).
	Connections map[string]int64
}

// Stats reads the table's gauges in one statement; before is
// TOKENS_REFRESH_BEFORE. The active count is estimated on a large table
// (see stats.sql).
func (s *Store) Stats(ctx context.Context, before time.Duration) (*TableStats, error) {
	var (
		st                     TableStats
		soonest                sql.NullFloat64
		reauth, disabled, rows int64
	)
	err := s.db.WithContext(ctx).Raw(statsSQL, map[string]any{"before_us": before.Microseconds()}).
		Row().Scan(&st.Due, &soonest, &reauth, &disabled, &rows)
	if err != nil {
		return nil, fmt.Errorf("read table stats: %w", err)
	}
	if soonest.Valid {
		d := time.Duration(soonest.Float64 * float64(time.Second))
		st.SoonestExpiry = &d
	}
	st.Connections = map[string]int64{
		// An estimate can undershoot the exact counts it is reduced by.
		model.StatusActive: max(rows-reauth-disabled, 0), model.StatusNeedsReauth: reauth, model.StatusDisabled: disabled,
	}
	return &st, nil
}
