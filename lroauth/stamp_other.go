//go:build !unix

package lroauth

import (
	"os"
)

// fileStamp is what tells that a file changed without reading it.
type fileStamp struct {
	size  int64
	mtime int64 // UnixNano
}

func statFile(path string) (fileStamp, error) {
	fi, err := os.Stat(path)
	if err != nil {
		return fileStamp{}, err
	}
	return fileStamp{size: fi.Size(), mtime: fi.ModTime().UnixNano()}, nil
}
