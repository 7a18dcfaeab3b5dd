package fsys

import (
	"errors"
	"os"
	"syscall"

	"burrow/agent/internal/connect"
)

// errnoCodes maps what a file operation can fail with to the Connect code a
// client can act on; anything else is internal.
var errnoCodes = []struct {
	errno syscall.Errno
	code  connect.Code
	what  string
}{
	{syscall.ENOENT, connect.NotFound, "does not exist"},
	{syscall.EACCES, connect.PermissionDenied, "permission denied"},
	{syscall.EPERM, connect.PermissionDenied, "operation not permitted"},
	{syscall.EROFS, connect.PermissionDenied, "is on a read-only file system"},
	{syscall.ENOTDIR, connect.InvalidArgument, "a parent is not a directory"},
	{syscall.EISDIR, connect.InvalidArgument, "is a directory"},
	{syscall.EINVAL, connect.InvalidArgument, "invalid argument"},
	{syscall.ENAMETOOLONG, connect.InvalidArgument, "file name too long"},
	{syscall.EEXIST, connect.AlreadyExists, "already exists"},
	{syscall.ENOTEMPTY, connect.FailedPrecondition, "directory not empty"},
	{syscall.ELOOP, connect.FailedPrecondition, "too many levels of symlinks"},
	{syscall.EBUSY, connect.FailedPrecondition, "is busy (a mount point or in use)"},
	{syscall.ETXTBSY, connect.FailedPrecondition, "is a running program"},
	{syscall.EXDEV, connect.FailedPrecondition, "cannot be moved across file systems"},
	{syscall.EOPNOTSUPP, connect.FailedPrecondition, "operation not supported here"},
	{syscall.ENXIO, connect.FailedPrecondition, "no such device"},
	{syscall.ENODEV, connect.FailedPrecondition, "no such device"},
	{syscall.EMLINK, connect.ResourceExhausted, "too many links"},
	{syscall.EFBIG, connect.ResourceExhausted, "file too large"},
	{syscall.ENOSPC, connect.ResourceExhausted, "no space left on device"},
	{syscall.EDQUOT, connect.ResourceExhausted, "disk quota exceeded"},
}

// statError maps a filesystem error on path to a Connect error: the caller's
// mistakes and the file system's refusals are 4xx codes, only the unexpected
// is internal.
func statError(path string, err error) error {
	var ce *connect.Error
	if errors.As(err, &ce) {
		return ce
	}
	var errno syscall.Errno
	if errors.As(err, &errno) {
		for _, e := range errnoCodes {
			if errno == e.errno {
				return connect.Errorf(e.code, "'%s': %s", path, e.what)
			}
		}
	}
	if errors.Is(err, os.ErrNotExist) {
		return connect.Errorf(connect.NotFound, "path '%s' does not exist", path)
	}
	if errors.Is(err, os.ErrPermission) {
		return connect.Errorf(connect.PermissionDenied, "'%s': permission denied", path)
	}
	return connect.Errorf(connect.Internal, "%s: %v", path, err)
}
