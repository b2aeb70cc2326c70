package main

import (
	"errors"
	"io/fs"
	"os"
	"slices"
	"strings"

	"github.com/tokenwarden/tokenwarden/internal/atomicfile"
)

// keptNote is added to the header when sections of an earlier report are
// kept, so that a reader knows the command above did not make them.
const keptNote = "- Sections this command did not run are kept from earlier runs or measured by hand; each says how it was made.\n"

// writeReport writes the report of this run to path, keeping the sections
// of the report already there that this run did not produce, in their
// places: `-scenarios proxy` replaces the proxy section only, and a
// section measured by hand (export) survives `make bench`. The analysis
// (analysis.md) always comes last and new.
func writeReport(path, report, analysis string) error {
	old, err := os.ReadFile(path)
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return err
	}
	return atomicfile.Write(path, []byte(mergeReport(string(old), report, analysis)), 0o644)
}

// mergeReport is report's header, then previous's sections with those of
// report in place of the ones of the same title, then report's sections
// that previous lacked, then analysis.
func mergeReport(previous, report, analysis string) string {
	_, oldSecs := splitSections(previous)
	head, newSecs := splitSections(report)
	_, skip := splitSections(analysis)
	var out []section
	kept := false
	for _, s := range oldSecs {
		if slices.ContainsFunc(skip, s.same) {
			continue
		}
		if i := slices.IndexFunc(newSecs, s.same); i >= 0 {
			out = append(out, newSecs[i])
			newSecs = slices.Delete(newSecs, i, i+1)
			continue
		}
		out = append(out, s)
		kept = true
	}
	out = append(out, newSecs...)
	var b strings.Builder
	b.WriteString(head)
	if kept {
		b.WriteString(keptNote)
	}
	for _, s := range out {
		b.WriteString(s.text)
	}
	b.WriteString(analysis)
	return b.String()
}

// section is one "## title" part of a report, its heading line included.
type section struct{ title, text string }

// same reports whether s and o are the same scenario's, failed or not.
func (s section) same(o section) bool { return s.title == o.title }

// splitSections splits doc at its "## " headings: what comes before the
// first, and each section with the blank line that precedes it.
func splitSections(doc string) (head string, secs []section) {
	if strings.HasPrefix(doc, "## ") {
		doc = "\n" + doc
	}
	parts := strings.Split(doc, "\n## ")
	for _, p := range parts[1:] {
		title, _, _ := strings.Cut(p, "\n")
		text := "\n## " + p
		if !strings.HasSuffix(text, "\n") {
			text += "\n"
		}
		secs = append(secs, section{title: strings.TrimSuffix(title, ": FAILED"), text: text})
	}
	return parts[0], secs
}
