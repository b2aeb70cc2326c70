// Package atomicfile replaces files so that a reader, or the machine
// after a crash, finds the old content or the new, never a part: the data
// goes to a temporary file in the same directory, is synced, renamed over
// the target, and the directory is synced so that the rename itself is
// durable. The spool writes its batches with it and `consumer get --write`
// its token file.
package atomicfile

import (
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
)

// Write replaces path with data, with permissions perm. On error path is
// as it was, unless the error is the final directory sync's: the new file
// is then in place but its rename may not survive a crash. Errors name
// path, never data.
func Write(path string, data []byte, perm fs.FileMode) error {
	err := write(path, perm, func(w io.Writer) error {
		_, err := w.Write(data)
		return err
	})
	if err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	return nil
}

// WriteFrom is Write for content too large to hold in memory (`worker
// export`): fill writes it (unbuffered: buffer in fill), and path is
// replaced only if fill succeeds. An error of fill is returned as it is.
func WriteFrom(path string, perm fs.FileMode, fill func(io.Writer) error) error {
	var fillErr error
	err := write(path, perm, func(w io.Writer) error {
		fillErr = fill(w)
		return fillErr
	})
	switch {
	case fillErr != nil:
		return fillErr
	case err != nil:
		return fmt.Errorf("write %s: %w", path, err)
	}
	return nil
}

func write(path string, perm fs.FileMode, fill func(io.Writer) error) (err error) {
	dir, base := filepath.Split(path)
	if dir == "" {
		dir = "."
	}
	// The temporary name starts with a dot and ends in neither the
	// target's suffix nor a pattern a reader of dir looks for.
	f, err := os.CreateTemp(dir, "."+base+".tmp-*")
	if err != nil {
		return err
	}
	tmp := f.Name()
	defer func() {
		if err != nil {
			f.Close()
			os.Remove(tmp)
		}
	}()
	if err = f.Chmod(perm); err != nil {
		return err
	}
	if err = fill(f); err != nil {
		return err
	}
	if err = f.Sync(); err != nil {
		return err
	}
	if err = f.Close(); err != nil {
		return err
	}
	if err = os.Rename(tmp, path); err != nil {
		return err
	}
	return SyncDir(dir)
}

// SyncDir makes the entries of dir durable: a file created, renamed into
// or removed from it.
func SyncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}
