// Package spool keeps refresh results that could not be stored durable on
// local disk until they can be. A provider that rotates refresh tokens has
// already invalidated the old one once it answers, so an answer the
// database did not take must outlive the process: the worker writes it here
// when it is asked to stop (or cannot store within its lease), and replays
// the spool on start before claiming anything.
//
// Each batch is one file, written to a temporary name, fsynced, renamed and
// the directory fsynced, so a crash leaves either the whole file or none.
// Tokens in it are sealed with the table's keyring and bound to their row
// and column, like the table itself.
package spool

import (
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/tokenwarden/tokenwarden/internal/keyring"
	"github.com/tokenwarden/tokenwarden/internal/store"
)

// Spool is a directory of pending batches.
type Spool struct {
	dir  string
	keys *keyring.Keyring
}

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
	tmp := final + ".tmp"
	if err := writeSynced(tmp, data); err != nil {
		os.Remove(tmp)
		return "", fmt.Errorf("spool: %w", err)
	}
	if err := os.Rename(tmp, final); err != nil {
		os.Remove(tmp)
		return "", fmt.Errorf("spool: %w", err)
	}
	if err := syncDir(s.dir); err != nil {
		return "", fmt.Errorf("spool: %w", err)
	}
	return final, nil
}

// Remove deletes a batch once it is stored.
func (s *Spool) Remove(path string) error {
	if err := os.Remove(path); err != nil && !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("spool: %w", err)
	}
	return syncDir(s.dir)
}

// Pending returns the batches not yet stored, oldest first. A file that
// cannot be read or opened is an error: it holds answers nowhere else.
func (s *Spool) Pending() ([]Entry, error) {
	des, err := os.ReadDir(s.dir)
	if err != nil {
		return nil, fmt.Errorf("spool: %w", err)
	}
	var names []string
	for _, de := range des {
		if strings.HasSuffix(de.Name(), suffix) {
			names = append(names, de.Name())
		}
	}
	sort.Strings(names)
	out := make([]Entry, 0, len(names))
	for _, n := range names {
		path := filepath.Join(s.dir, n)
		data, err := os.ReadFile(path)
		if err != nil {
			return nil, fmt.Errorf("spool: %w", err)
		}
		var b Batch
		if err := json.Unmarshal(data, &b); err != nil {
			return nil, fmt.Errorf("spool: %s is corrupt: %w", n, err)
		}
		if err := s.open(&b); err != nil {
			return nil, fmt.Errorf("spool: %s: %w", n, err)
		}
		out = append(out, Entry{Path: path, Batch: b})
	}
	return out, nil
}

func (s *Spool) seal(b Batch) (Batch, error) {
	out := Batch{Failures: make([]store.Failure, len(b.Failures)), Successes: make([]store.Success, len(b.Successes))}
	for i, x := range b.Failures {
		// A failure carries a refresh token only when one was salvaged
		// from an unusable answer.
		if x.RefreshToken != "" {
			var err error
			if x.RefreshToken, err = s.keys.Seal(x.RefreshToken, keyring.AAD(x.ID.String(), "refresh_token")); err != nil {
				return Batch{}, err
			}
		}
		out.Failures[i] = x
	}
	for i, x := range b.Successes {
		var err error
		if x.AccessToken, err = s.keys.Seal(x.AccessToken, keyring.AAD(x.ID.String(), "access_token")); err != nil {
			return Batch{}, err
		}
		if x.RefreshToken, err = s.keys.Seal(x.RefreshToken, keyring.AAD(x.ID.String(), "refresh_token")); err != nil {
			return Batch{}, err
		}
		out.Successes[i] = x
	}
	return out, nil
}

func (s *Spool) open(b *Batch) error {
	for i := range b.Failures {
		x := &b.Failures[i]
		if x.RefreshToken == "" {
			continue
		}
		var err error
		if x.RefreshToken, err = s.keys.Open(x.RefreshToken, keyring.AAD(x.ID.String(), "refresh_token")); err != nil {
			return err
		}
	}
	for i := range b.Successes {
		x := &b.Successes[i]
		var err error
		if x.AccessToken, err = s.keys.Open(x.AccessToken, keyring.AAD(x.ID.String(), "access_token")); err != nil {
			return err
		}
		if x.RefreshToken, err = s.keys.Open(x.RefreshToken, keyring.AAD(x.ID.String(), "refresh_token")); err != nil {
			return err
		}
	}
	return nil
}

func writeSynced(path string, data []byte) error {
	f, err := os.OpenFile(path, os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o600)
	if err != nil {
		return err
	}
	if _, err := f.Write(data); err != nil {
		f.Close()
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}

func randomHex() string {
	b := make([]byte, 6)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}
