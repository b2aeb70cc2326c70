package testutil_test

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/tokenwarden/tokenwarden/internal/testutil"
)

// fatal records a Fatalf and stops the helper, as testing.T does.
type fatal struct {
	testing.TB
	msg string
}

func (f *fatal) Helper() {}
func (f *fatal) Fatalf(format string, args ...any) {
	f.msg = fmt.Sprintf(format, args...)
	panic(f)
}

func TestEventuallyWaitsForTheCondition(t *testing.T) {
	t.Parallel()
	n := 0
	testutil.Eventually(t, 10*time.Second, "the third poll", func() bool { n++; return n == 3 })
	if n != 3 {
		t.Fatalf("polled %d times", n)
	}
}

func TestEventuallyFailsAtItsDeadline(t *testing.T) {
	t.Parallel()
	f := &fatal{TB: t}
	func() {
		defer func() {
			if r := recover(); r != nil && r != f {
				panic(r)
			}
		}()
		testutil.Eventually(f, 30*time.Millisecond, "never", func() bool { return false })
	}()
	if !strings.Contains(f.msg, "timed out after 30ms waiting for never") {
		t.Fatalf("Fatalf said %q", f.msg)
	}
}
