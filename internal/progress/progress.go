// Package progress reports how far a long command (import, rekey) has
// got: a bar on a terminal, a plain line every few seconds when the output
// is a log or a pipe, nothing when asked to be quiet. The command's final
// summary is its own, printed whatever this package shows.
package progress

import (
	"fmt"
	"io"
	"time"

	"github.com/schollz/progressbar/v3"
)

// Reporter is told how far the work has got. Commands are handed one, so
// tests can observe what they report.
type Reporter interface {
	// SetTotal gives the number of rows the work will do, once known.
	SetTotal(total int)
	// Set reports the rows done so far.
	Set(done int)
	// Finish ends the report, before the command prints its summary.
	Finish()
}

// Options shape New.
type Options struct {
	// Quiet shows nothing.
	Quiet bool
	// Terminal draws a bar, for output that is a terminal (cli.IsTerminal).
	Terminal bool
	// Every is how often a plain line is printed; 0 means 5 s.
	Every time.Duration
	// Now is the clock of the plain lines; nil means time.Now.
	Now func() time.Time
}

// New returns a Reporter writing to w about the work called what ("import").
func New(w io.Writer, what string, o Options) Reporter {
	switch {
	case o.Quiet:
		return nop{}
	case o.Terminal:
		return newBar(w, what)
	}
	if o.Every <= 0 {
		o.Every = 5 * time.Second
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	start := o.Now()
	return &lines{w: w, what: what, every: o.Every, now: o.Now, start: start, last: start}
}

type nop struct{}

func (nop) SetTotal(int) {}
func (nop) Set(int)      {}
func (nop) Finish()      {}

// bar is schollz/progressbar: rows done, the total where known, the rate
// and the time left.
type bar struct {
	b *progressbar.ProgressBar
	w io.Writer
}

func newBar(w io.Writer, what string) *bar {
	return &bar{w: w, b: progressbar.NewOptions64(-1,
		progressbar.OptionSetWriter(w),
		progressbar.OptionSetDescription(what),
		progressbar.OptionShowCount(),
		progressbar.OptionShowIts(),
		progressbar.OptionSetItsString("rows"),
		progressbar.OptionSetPredictTime(true),
		progressbar.OptionThrottle(100*time.Millisecond),
		progressbar.OptionSetRenderBlankState(true),
	)}
}

func (b *bar) SetTotal(total int) { b.b.ChangeMax64(int64(total)) }
func (b *bar) Set(done int)       { _ = b.b.Set64(int64(done)) } // it fails only on a write to the terminal
func (b *bar) Finish() {
	_ = b.b.Finish()
	fmt.Fprintln(b.w)
}

// lines prints one plain line every so often, for logs.
type lines struct {
	w           io.Writer
	what        string
	every       time.Duration
	now         func() time.Time
	start, last time.Time
	total       int
}

func (l *lines) SetTotal(total int) { l.total = total }

func (l *lines) Set(done int) {
	now := l.now()
	if now.Sub(l.last) < l.every {
		return
	}
	l.last = now
	elapsed := now.Sub(l.start).Seconds()
	rate := float64(done) / max(elapsed, 1e-9)
	if l.total <= 0 {
		fmt.Fprintf(l.w, "%s: %d rows, %.0f rows/s\n", l.what, done, rate)
		return
	}
	left := time.Duration(float64(l.total-done) / max(rate, 1e-9) * float64(time.Second)).Round(time.Second)
	fmt.Fprintf(l.w, "%s: %d of %d rows (%d%%), %.0f rows/s, about %s left\n",
		l.what, done, l.total, done*100/l.total, rate, left)
}

func (l *lines) Finish() {}
