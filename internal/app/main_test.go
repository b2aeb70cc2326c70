package app_test

import (
	"testing"

	"go.uber.org/goleak"
)

// TestMain fails the package if a test leaves a goroutine running: Run and
// Serve join the HTTP server and the LISTEN connection they start.
func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}
