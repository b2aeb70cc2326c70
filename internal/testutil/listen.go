package testutil

import (
	"regexp"
	"testing"
	"time"
)

var listening = regexp.MustCompile(`msg="HTTP API listening" addr=(\S+)`)

// ListenAddr waits for the worker's "HTTP API listening" line in log, as
// a server started on TOKENS_HTTP_ADDR=127.0.0.1:0 writes it, and returns
// the address it names.
func ListenAddr(t testing.TB, log *Buffer) string {
	t.Helper()
	var addr string
	Eventually(t, 30*time.Second, "the HTTP API listening", func() bool {
		if m := listening.FindStringSubmatch(log.String()); m != nil {
			addr = m[1]
		}
		return addr != ""
	})
	return addr
}
