package console_test

import (
	"testing"

	"go.uber.org/goleak"
)

// TestMain fails the package if a test leaves a goroutine running: each
// test stops its browser, its servers and the console's live streams.
func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}
