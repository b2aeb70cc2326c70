package cli

import (
	"errors"
	"flag"
	"os"
	"slices"
	"testing"
)

func TestParseAcceptsFlagsAnywhere(t *testing.T) {
	t.Parallel()
	for _, args := range [][]string{
		{"--json", "NAME"},
		{"NAME", "--json"},
		{"NAME", "-json=true"},
	} {
		fs := flag.NewFlagSet("get", flag.ContinueOnError)
		j := fs.Bool("json", false, "")
		pos, err := Parse(fs, args)
		if err != nil || !*j || !slices.Equal(pos, []string{"NAME"}) {
			t.Errorf("Parse(%q) = %q, json=%v, %v", args, pos, *j, err)
		}
	}
	fs := flag.NewFlagSet("get", flag.ContinueOnError)
	fs.Bool("json", false, "")
	if pos, err := Parse(fs, []string{"a", "--", "--json"}); err != nil || !slices.Equal(pos, []string{"a", "--json"}) {
		t.Errorf("after --: %q %v", pos, err)
	}
	if _, err := Parse(flag.NewFlagSet("x", flag.ContinueOnError), []string{"--nope"}); !errors.Is(err, ErrUsage) {
		t.Errorf("unknown flag: %v", err)
	}
}

// /dev/null is a character device but no terminal: a command whose stdin
// is /dev/null prompts nobody.
func TestDevNullIsNoTerminal(t *testing.T) {
	t.Parallel()
	f, err := os.Open(os.DevNull)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if IsTerminal(f) || IsTerminal(&struct{}{}) {
		t.Fatal("/dev/null or a non-file is taken as a terminal")
	}
}
