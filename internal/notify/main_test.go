package notify

import (
	"testing"

	"go.uber.org/goleak"
)

// TestMain fails the package if a test leaves a goroutine running: Listen
// and a Hub's Run and RunDB return only once their connection is closed.
func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}
