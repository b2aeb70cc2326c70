package webhook_test

import (
	"testing"

	"go.uber.org/goleak"
)

// TestMain fails the package if a test leaves a goroutine running: a
// closed Notifier has joined its delivery goroutine.
func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}
