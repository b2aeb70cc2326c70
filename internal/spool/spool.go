// Package spool keeps refresh results that could not be stored durable on
// local disk until they can be. A provider that rotates refresh tokens has
// already invalidated the old one once it answers, so an answer the
// database did not take must outlive the process: the worker writes it here
// as soon as a store fails, removes it once a store succeeds, and replays
// the spool on start before claiming anything.
//
// Each batch is one file, written with atomicfile (a temporary name,
// fsynced, renamed, the directory fsynced), so a crash leaves either the
// whole file or none.
// Tokens in it are sealed with the table's keyring and bound to their row
// and column, like the table itself.
//
// A file that cannot be read back (garbage, truncated, sealed with a key
// the keyring lacks) is moved to the quarantine subdirectory rather than
// deleted: it may hold rotated tokens that exist nowhere else.
package spool

import (
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync/atomic"
	"time"

	"github.com/tokenwarden/tokenwarden/internal/atomicfile"
	"github.com/tokenwarden/tokenwarden/internal/keyring"
	"github.com/tokenwarden/tokenwarden/internal/store"
)

// Spool is a directory of pending batches.
type Spool struct {
	dir  string
	keys *keyring.Keyring
	// quarantined counts the files this Spool moved to quarantine/.
	quarantined atomic.Int64
}

// QuarantineDir is the subdirectory unreadable batch files are moved to.
const QuarantineDir = "quarantine"

// Open creates dir (mode 0700) if needed.
func Open(dir string, keys *keyring.Keyring) (*Spool, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("spool: %w", err)
	}
	return &Spool{dir: dir, keys: keys}, nil
}

// Batch is what one spool file holds.
type Batch struct {
	Successes []store.Success `json:"successes,omitempty"`
	Failures  []store.Failure `json:"failures,omitempty"`
}

// Entry is a pending batch and the file holding it.
type Entry struct {
	Path  string
	Batch Batch
}

const suffix = ".batch.json"

// Write stores b durably and returns its file's path.
func (s *Spool) Write(b Batch) (string, error) {
	sealed, err := s.seal(b)
	if err != nil {
		return "", err
	}
	data, err := json.Marshal(sealed)
	if err != nil {
		return "", err
	}
	name := fmt.Sprintf("%020d-%s%s", time.Now().UnixNano(), randomHex(), suffix)
	final := filepath.Join(s.dir, name)
	if err := atomicfile.Write(final, data, 0o600); err != nil {
		return "", fmt.Errorf("spool: %w", err)
	}
	return final, nil
}

// Remove deletes a batch once it is stored.
func (s *Spool) Remove(path string) error {
	if err := os.Remove(path); err != nil && !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("spool: %w", err)
	}
	return atomicfile.SyncDir(s.dir)
}

// Unreadable is a batch file Pending could not read.
type Unreadable struct {
	// Path is where the file is now: under QuarantineDir, or where it was
	// if moving it failed.
	Path string
	// Err says why it could not be read (and moved). It never holds the
	// file's content.
	Err error
}

// Pending returns the batches not yet stored, oldest first. A file it
// cannot read is moved to QuarantineDir and reported in unreadable, never
// skipped silently (it may hold answers found nowhere else) and never an
// error: one bad file must not stop every other result from being stored.
// The error is for a spool directory that cannot be listed.
func (s *Spool) Pending() (entries []Entry, unreadable []Unreadable, err error) {
	names, err := s.names()
	if err != nil {
		return nil, nil, err
	}
	entries = make([]Entry, 0, len(names))
	for _, n := range names {
		b, err := s.read(n)
		switch {
		case err == nil:
			entries = append(entries, Entry{Path: filepath.Join(s.dir, n), Batch: b})
			continue
		case errors.Is(err, fs.ErrNotExist):
			continue // stored and removed since it was listed (another process's)
		}
		path, merr := s.quarantine(n)
		unreadable = append(unreadable, Unreadable{Path: path, Err: errors.Join(err, merr)})
	}
	return entries, unreadable, nil
}

// CheckKeys returns an error naming the first batch file that holds a
// token sealed with a key the keyring lacks. Run at start-up, next to the
// table's key check: such a file holds rotated tokens only that key opens,
// so the worker should not start without it. Files that do not parse are
// left for Pending to quarantine.
func (s *Spool) CheckKeys() error {
	names, err := s.names()
	if err != nil {
		return err
	}
	for _, n := range names {
		if _, err := s.read(n); errors.Is(err, keyring.ErrUnknownKey) {
			return fmt.Errorf("spool file %s cannot be replayed: %w; start with that key, or move the file to %s to go on without it",
				filepath.Join(s.dir, n), errors.Unwrap(err), filepath.Join(s.dir, QuarantineDir))
		}
	}
	return nil
}

// Quarantined returns how many files this Spool has moved to
// QuarantineDir, for metrics.
func (s *Spool) Quarantined() int64 { return s.quarantined.Load() }

// names lists the batch files, oldest first.
func (s *Spool) names() ([]string, error) {
	des, err := os.ReadDir(s.dir)
	if err != nil {
		return nil, fmt.Errorf("spool: %w", err)
	}
	var names []string
	for _, de := range des {
		if de.Type().IsRegular() && strings.HasSuffix(de.Name(), suffix) {
			names = append(names, de.Name())
		}
	}
	sort.Strings(names)
	return names, nil
}

// read reads and opens one batch file.
func (s *Spool) read(name string) (Batch, error) {
	data, err := os.ReadFile(filepath.Join(s.dir, name))
	if err != nil {
		return Batch{}, fmt.Errorf("spool: %w", err)
	}
	var b Batch
	if err := json.Unmarshal(data, &b); err != nil {
		return Batch{}, fmt.Errorf("spool: %s is corrupt: %s", name, jsonProblem(err))
	}
	if err := s.open(&b); err != nil {
		return Batch{}, fmt.Errorf("spool: %s: %w", name, err)
	}
	return b, nil
}

// jsonProblem describes a decoding error by its position only: the
// decoder's own message may quote a piece of the file, which can be a
// token.
func jsonProblem(err error) string {
	var syn *json.SyntaxError
	var typ *json.UnmarshalTypeError
	switch {
	case errors.As(err, &syn) && syn.Error() == "unexpected end of JSON input":
		return fmt.Sprintf("truncated at byte %d", syn.Offset)
	case errors.As(err, &syn):
		return fmt.Sprintf("invalid JSON at byte %d", syn.Offset)
	case errors.As(err, &typ):
		return fmt.Sprintf("unexpected %s at byte %d", typ.Value, typ.Offset)
	default:
		return "not a batch"
	}
}

// quarantine moves a batch file to QuarantineDir and returns its new path,
// or its old one and why it could not be moved.
func (s *Spool) quarantine(name string) (string, error) {
	from := filepath.Join(s.dir, name)
	qdir := filepath.Join(s.dir, QuarantineDir)
	to := filepath.Join(qdir, name)
	if err := os.MkdirAll(qdir, 0o700); err != nil {
		return from, fmt.Errorf("spool: cannot quarantine: %w", err)
	}
	if err := os.Rename(from, to); err != nil {
		return from, fmt.Errorf("spool: cannot quarantine: %w", err)
	}
	s.quarantined.Add(1)
	if err := errors.Join(atomicfile.SyncDir(qdir), atomicfile.SyncDir(s.dir)); err != nil {
		return to, fmt.Errorf("spool: quarantined, not synced: %w", err)
	}
	return to, nil
}

// seal returns a copy of b with its tokens sealed, bound to their row and
// column: the identity each result is bound to in the table travels in the
// clear beside them.
func (s *Spool) seal(b Batch) (Batch, error) {
	successes, failures, err := store.SealResults(s.keys, store.RowBinding, b.Successes, b.Failures)
	return Batch{Successes: successes, Failures: failures}, err
}

// open opens in place the tokens seal sealed.
func (s *Spool) open(b *Batch) error {
	return store.OpenResults(s.keys, store.RowBinding, b.Successes, b.Failures)
}

func randomHex() string {
	b := make([]byte, 6)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}
