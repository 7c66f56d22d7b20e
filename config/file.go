package config

import (
	"context"
	"os"
	"path/filepath"
	"time"

	"github.com/fsnotify/fsnotify"
)

// File is a Source reading a JSON document from a file. As a Watcher it
// watches the file's directory with fsnotify, so that an editor's atomic
// save (write a temporary file, rename it over the original) is seen as
// well as a write in place.
type File struct {
	// Path is the file's path.
	Path string
	// Optional makes a missing file an empty document instead of an error.
	Optional bool
}

// Name implements Source.
func (f *File) Name() string { return "file " + f.Path }

// Load implements Source.
func (f *File) Load(ctx context.Context) (Tree, error) {
	data, err := os.ReadFile(f.Path)
	if err != nil {
		if f.Optional && os.IsNotExist(err) {
			return Tree{}, nil
		}
		return nil, err
	}
	t, err := ParseTree(data)
	if err != nil {
		return nil, TreeError("", "", false, err)
	}
	return t, nil
}

// Watch implements Watcher. When the directory cannot be watched it retries
// every second; changes are then caught by the loader's Interval.
func (f *File) Watch(ctx context.Context, changed func()) error {
	dir, base := filepath.Split(filepath.Clean(f.Path))
	if dir == "" {
		dir = "."
	}
	for {
		w, err := fsnotify.NewWatcher()
		if err == nil {
			if err = w.Add(dir); err == nil {
				changed() // catch what changed while not watching
				err = f.loop(ctx, w, base, changed)
			}
			w.Close()
		}
		if ctx.Err() != nil {
			return ctx.Err()
		}
		t := time.NewTimer(time.Second)
		select {
		case <-ctx.Done():
			t.Stop()
			return ctx.Err()
		case <-t.C:
		}
	}
}

func (f *File) loop(ctx context.Context, w *fsnotify.Watcher, base string, changed func()) error {
	for {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case ev, ok := <-w.Events:
			if !ok {
				return nil
			}
			if filepath.Base(ev.Name) == base {
				changed()
			}
		case err, ok := <-w.Errors:
			if !ok || err != nil {
				return err
			}
		}
	}
}
