// Package notify keeps a LISTEN connection to PostgreSQL open and hands its
// notifications to a Handler, reconnecting with backoff when the server goes
// away. gorm has no LISTEN, so this is the one place that uses pgx directly.
package notify

import (
	"context"
	"log/slog"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/tokenwarden/tokenwarden/internal/backoff"
)

// Channels tokenwarden uses; see sql/schema.sql.
const (
	// TokensChannel carries a connection name whenever its tokens, updating
	// flag or status change.
	TokensChannel = "tokenwarden_tokens"
	// RefreshChannel carries a connection name when someone asks the
	// workers to refresh it now.
	RefreshChannel = "tokenwarden_refresh"
)

// Handler receives the listener's events. Calls come from one goroutine.
type Handler interface {
	// Connected is called each time LISTEN is in place. Notifications sent
	// while the connection was down are lost, so a handler must treat this
	// as "anything may have changed".
	Connected()
	// Disconnected is called when the connection is lost.
	Disconnected()
	// Notify is called for each notification.
	Notify(channel, payload string)
}

// Listen holds a LISTEN connection on channels until ctx ends, reconnecting
// with backoff (up to 5 s) after any failure.
func Listen(ctx context.Context, dsn string, channels []string, h Handler, log *slog.Logger) {
	listen(ctx, dialURL(dsn), channels, h, log)
}

// listen is Listen on the connections dial gives.
func listen(ctx context.Context, dial dialer, channels []string, h Handler, log *slog.Logger) {
	wait := backoff.Backoff{Policy: backoff.Policy{Base: 100 * time.Millisecond, Max: 5 * time.Second}}
	for ctx.Err() == nil {
		connected, err := listenOnce(ctx, dial, channels, h)
		if ctx.Err() != nil {
			return
		}
		if connected {
			h.Disconnected()
			wait.Reset()
		}
		d := wait.Next()
		log.Warn("notification connection lost; retrying", "err", err, "retry_in", d)
		t := time.NewTimer(d)
		select {
		case <-ctx.Done():
			t.Stop()
			return
		case <-t.C:
		}
	}
}

func listenOnce(ctx context.Context, dial dialer, channels []string, h Handler) (connected bool, err error) {
	err = dial(ctx, func(conn *pgx.Conn) error {
		for _, ch := range channels {
			if _, err := conn.Exec(ctx, "LISTEN "+pgx.Identifier{ch}.Sanitize()); err != nil {
				return err
			}
		}
		h.Connected()
		connected = true
		for {
			n, err := conn.WaitForNotification(ctx)
			if err != nil {
				return err
			}
			h.Notify(n.Channel, n.Payload)
		}
	})
	return connected, err
}

// A dialer runs use on a new connection and disposes of it afterwards.
type dialer func(ctx context.Context, use func(*pgx.Conn) error) error

// dialURL connects to dsn, outside any pool.
func dialURL(dsn string) dialer {
	return func(ctx context.Context, use func(*pgx.Conn) error) error {
		conn, err := pgx.Connect(ctx, dsn)
		if err != nil {
			return err
		}
		defer conn.Close(context.Background())
		return use(conn)
	}
}
