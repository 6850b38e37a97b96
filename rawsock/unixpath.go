package rawsock

import (
	"errors"
	"fmt"
	"io/fs"
	"net"
	"os"
	"syscall"
	"time"
)

// DefaultUnixMode is the mode of a Unix socket file: only the daemon's
// user may connect.
const DefaultUnixMode fs.FileMode = 0o600

// MaxUnixPath is the longest path a sockaddr_un holds on Linux (108 bytes
// with the terminating NUL).
const MaxUnixPath = 107

// isAbstract reports a Linux abstract socket name ("@name"): no file.
func isAbstract(path string) bool { return len(path) > 0 && path[0] == '@' }

// prepareUnixPath makes path bindable. A socket file that nobody answers
// on is what a crashed process leaves behind: it is removed. A socket a
// live process answers on, or a path that is not a socket at all, is
// refused, never removed.
func prepareUnixPath(network, path string) error {
	if isAbstract(path) {
		return nil
	}
	fi, err := os.Lstat(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("%w %s: %w", ErrBind, path, err)
	}
	if fi.Mode().Type() != fs.ModeSocket {
		return fmt.Errorf("%w %s: it exists and is %s, not a socket", ErrBind, path, describeFileType(fi.Mode()))
	}
	conn, err := net.DialTimeout(network, path, time.Second)
	switch {
	case err == nil:
		_ = conn.Close()
		return fmt.Errorf("%w: %s: a live socket answers there", ErrAddrInUse, path)
	case errors.Is(err, syscall.ECONNREFUSED):
		if err := os.Remove(path); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return fmt.Errorf("%w %s: cannot remove the stale socket: %w", ErrBind, path, err)
		}
		return nil
	default:
		return fmt.Errorf("%w %s: cannot tell whether the socket there is live: %w", ErrBind, path, err)
	}
}

func describeFileType(m fs.FileMode) string {
	switch {
	case m.IsRegular():
		return "a regular file"
	case m.IsDir():
		return "a directory"
	case m&fs.ModeSymlink != 0:
		return "a symbolic link"
	default:
		return "a special file"
	}
}

// unixSocketFile is the file a bound Unix socket created, remembered so
// that closing removes that file and not one that replaced it since.
type unixSocketFile struct {
	path string
	info fs.FileInfo
}

// claimUnixSocketFile sets the file's mode and remembers it.
func claimUnixSocketFile(path string, mode fs.FileMode) (*unixSocketFile, error) {
	if isAbstract(path) {
		return nil, nil
	}
	if err := os.Chmod(path, mode); err != nil {
		return nil, fmt.Errorf("%w %s: set mode %#o: %w", ErrBind, path, mode, err)
	}
	info, err := os.Lstat(path)
	if err != nil {
		return nil, fmt.Errorf("%w %s: %w", ErrBind, path, err)
	}
	return &unixSocketFile{path: path, info: info}, nil
}

// remove deletes the socket file if it is still the one bound.
func (f *unixSocketFile) remove() {
	if f == nil {
		return
	}
	if now, err := os.Lstat(f.path); err == nil && os.SameFile(now, f.info) {
		_ = os.Remove(f.path)
	}
}

// chmod sets the socket file's mode, if it is still the one bound: who
// may connect from now on. A listener not yet bound, or on an abstract
// address, has no file and nothing to do.
func (f *unixSocketFile) chmod(mode fs.FileMode) error {
	if f == nil {
		return nil
	}
	now, err := os.Lstat(f.path)
	if err != nil || !os.SameFile(now, f.info) {
		return fmt.Errorf("socket file %s is gone or replaced: %w", f.path, fs.ErrNotExist)
	}
	if err := os.Chmod(f.path, mode); err != nil {
		return fmt.Errorf("set mode %#o on %s: %w", mode, f.path, err)
	}
	return nil
}
