package tokens

import (
	"testing"

	"go.uber.org/goleak"
)

// TestMain fails the package if a test leaves a goroutine running: Close
// returns only once the client's LISTEN connection is closed.
func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}
