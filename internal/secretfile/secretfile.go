// Package secretfile writes and cleans up the small secret files Crowd keeps
// apart from its database (noise keys, pseudonym keys, daily salts): atomic
// replacement with mode 0600, and removal of temporaries an interrupted
// write left behind, since they may hold secrets meant to be destroyed.
package secretfile

import (
	"os"
	"path/filepath"
	"strings"
)

// TempSuffix marks temporary files of WriteAtomic; RemoveTemps relies on it.
const TempSuffix = ".tmp-"

// WriteAtomic replaces dir/name with data so that a crash at any moment
// leaves either the old or the new content, never a mix: write a temporary
// file (0600), fsync it, rename it over the target, and fsync the directory
// so the rename itself is durable.
func WriteAtomic(dir, name string, data []byte) (err error) {
	f, err := os.CreateTemp(dir, name+TempSuffix+"*")
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
	if err := f.Chmod(0o600); err != nil { // CreateTemp's default, made explicit
		return err
	}
	if _, err := f.Write(data); err != nil {
		return err
	}
	if err := f.Sync(); err != nil {
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	if err := os.Rename(tmp, filepath.Join(dir, name)); err != nil {
		return err
	}
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}

// RemoveTemps deletes the temporary files an interrupted WriteAtomic of any
// of names left in dir.
func RemoveTemps(dir string, names ...string) error {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return err
	}
	for _, e := range entries {
		for _, name := range names {
			if strings.HasPrefix(e.Name(), name+TempSuffix) {
				if err := os.Remove(filepath.Join(dir, e.Name())); err != nil {
					return err
				}
			}
		}
	}
	return nil
}
