// Package cli holds what the tokenwarden commands share: flag parsing that
// accepts flags before or after positional arguments, one-line errors, the
// slog logger the configuration asks for, and whether a stream is a terminal.
package cli

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strings"

	"golang.org/x/term"

	"github.com/tokenwarden/tokenwarden/internal/config"
)

// ErrUsage marks an error in the command line itself; commands exit 2.
var ErrUsage = errors.New("usage")

// UsageError returns an error wrapping ErrUsage.
func UsageError(format string, args ...any) error {
	return fmt.Errorf("%w: %s", ErrUsage, fmt.Sprintf(format, args...))
}

// Parse parses args with fs, accepting flags before, between and after the
// positional arguments ("get NAME --json" and "get --json NAME"). A "--"
// ends flag parsing.
func Parse(fs *flag.FlagSet, args []string) ([]string, error) {
	fs.SetOutput(io.Discard)
	var pos []string
	for {
		if err := fs.Parse(args); err != nil {
			return nil, UsageError("%v", err)
		}
		rest := fs.Args()
		if len(rest) == 0 {
			return pos, nil
		}
		if len(args) > 0 && len(rest) < len(args) && args[len(args)-len(rest)-1] == "--" {
			return append(pos, rest...), nil
		}
		pos = append(pos, rest[0])
		args = rest[1:]
	}
}

// OneLine folds an error into one line for the terminal.
func OneLine(err error) string {
	return strings.Join(strings.Fields(err.Error()), " ")
}

// Logger returns the logger the configuration asks for, writing to w.
func Logger(cfg *config.Config, w io.Writer) *slog.Logger {
	level, _ := cfg.Level()
	opts := &slog.HandlerOptions{Level: level}
	if strings.EqualFold(cfg.LogFormat, "json") {
		return slog.New(slog.NewJSONHandler(w, opts))
	}
	return slog.New(slog.NewTextHandler(w, opts))
}

// IsTerminal reports whether v, a command's stdin, stdout or stderr, is a
// terminal: where a progress bar can be drawn, or a person prompted. A
// file or /dev/null is not one.
func IsTerminal(v any) bool {
	f, ok := v.(*os.File)
	return ok && term.IsTerminal(int(f.Fd()))
}
