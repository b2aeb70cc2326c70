package progress_test

import (
	"bytes"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/creack/pty"

	"github.com/tokenwarden/tokenwarden/internal/cli"
	"github.com/tokenwarden/tokenwarden/internal/progress"
)

// On a terminal, the bar shows rows done of the total, the rate and the
// time left.
func TestBarOnATerminal(t *testing.T) {
	t.Parallel()
	ptm, tty, err := pty.Open()
	if err != nil {
		t.Fatal(err)
	}
	defer ptm.Close()
	if !cli.IsTerminal(tty) {
		t.Fatal("a pseudo-terminal is not taken as a terminal")
	}
	read := make(chan string)
	go func() {
		b, _ := io.ReadAll(ptm) // ends when tty is closed
		read <- string(b)
	}()
	rep := progress.New(tty, "import", progress.Options{Terminal: cli.IsTerminal(tty)})
	rep.SetTotal(1000)
	rep.Set(250)
	rep.Set(1000)
	rep.Finish()
	tty.Close()
	var out string
	select {
	case out = <-read:
	case <-time.After(10 * time.Second):
		t.Fatal("nothing read from the terminal")
	}
	for _, want := range []string{"import", "100%", "1000/1000", "rows/s"} {
		if !strings.Contains(out, want) {
			t.Fatalf("terminal shows %q, want %q in it", out, want)
		}
	}
}

// When the output is not a terminal, a plain line is printed every so
// often, and none in between.
func TestPlainLinesOffATerminal(t *testing.T) {
	t.Parallel()
	var buf bytes.Buffer
	now := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	clock := func() time.Time { return now }
	rep := progress.New(&buf, "rekey", progress.Options{Terminal: cli.IsTerminal(&buf), Every: 5 * time.Second, Now: clock})
	rep.SetTotal(100000)
	now = now.Add(time.Second)
	rep.Set(10000) // too soon for a line
	now = now.Add(4 * time.Second)
	rep.Set(50000)
	now = now.Add(time.Second)
	rep.Set(60000)
	rep.Finish()
	want := "rekey: 50000 of 100000 rows (50%), 10000 rows/s, about 5s left\n"
	if buf.String() != want {
		t.Fatalf("got %q, want %q", buf.String(), want)
	}
}

// Quiet shows nothing, on a terminal or not.
func TestQuietShowsNothing(t *testing.T) {
	t.Parallel()
	for _, terminal := range []bool{false, true} {
		var buf bytes.Buffer
		rep := progress.New(&buf, "import", progress.Options{Quiet: true, Terminal: terminal, Every: time.Nanosecond})
		rep.SetTotal(10)
		rep.Set(10)
		rep.Finish()
		if buf.Len() != 0 {
			t.Fatalf("terminal %v: quiet printed %q", terminal, buf.String())
		}
	}
}
