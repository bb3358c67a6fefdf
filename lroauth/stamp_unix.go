//go:build unix

package lroauth

import (
	"os"
	"syscall"
)

// fileStamp is what tells that a file changed without reading it.
type fileStamp struct {
	size  int64
	mtime int64 // UnixNano
	inode uint64
}

func statFile(path string) (fileStamp, error) {
	fi, err := os.Stat(path)
	if err != nil {
		return fileStamp{}, err
	}
	s := fileStamp{size: fi.Size(), mtime: fi.ModTime().UnixNano()}
	if st, ok := fi.Sys().(*syscall.Stat_t); ok {
		s.inode = uint64(st.Ino) //nolint:unconvert // Ino is not uint64 everywhere
	}
	return s, nil
}
