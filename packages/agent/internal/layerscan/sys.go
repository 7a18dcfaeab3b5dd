// Package layerscan walks an overlay upper dir that a sandbox controls, from the host, without
// ever following a link in it: every lookup is relative to an open directory descriptor and
// uses no-follow flags, so any depth works and a swapped-in symlink is reported, not entered.
package layerscan

import (
	"syscall"
	"unsafe"
)

const (
	atSymlinkNofollow = 0x100
	dirFlags          = syscall.O_RDONLY | syscall.O_DIRECTORY | syscall.O_NOFOLLOW | syscall.O_CLOEXEC
	fileFlags         = syscall.O_RDONLY | syscall.O_NOFOLLOW | syscall.O_NONBLOCK | syscall.O_CLOEXEC
	opaqueXattr       = "trusted.overlay.opaque"
)

func bytePtr(s string) (*byte, error) { return syscall.BytePtrFromString(s) }

// The calls below are raw system calls: each takes microseconds on a local file system, and the
// tool runs one goroutine, so telling the Go scheduler about every one (futex hand-offs) would
// cost more than the calls themselves.

// lstatAt is fstatat(dirfd, name, AT_SYMLINK_NOFOLLOW).
func lstatAt(dirfd int, name string, st *syscall.Stat_t) error {
	p, err := bytePtr(name)
	if err != nil {
		return err
	}
	_, _, e := syscall.RawSyscall6(syscall.SYS_NEWFSTATAT, uintptr(dirfd), uintptr(unsafe.Pointer(p)),
		uintptr(unsafe.Pointer(st)), atSymlinkNofollow, 0, 0)
	if e != 0 {
		return e
	}
	return nil
}

// readlinkAt is readlinkat(dirfd, name).
func readlinkAt(dirfd int, name string) (string, error) {
	p, err := bytePtr(name)
	if err != nil {
		return "", err
	}
	buf := make([]byte, 4096)
	n, _, e := syscall.RawSyscall6(syscall.SYS_READLINKAT, uintptr(dirfd), uintptr(unsafe.Pointer(p)),
		uintptr(unsafe.Pointer(&buf[0])), uintptr(len(buf)), 0, 0)
	if e != 0 {
		return "", e
	}
	return string(buf[:n]), nil
}

// isOpaque reads trusted.overlay.opaque of an open directory.
func isOpaque(fd int) bool {
	p, err := bytePtr(opaqueXattr)
	if err != nil {
		return false
	}
	buf := make([]byte, 8)
	n, _, e := syscall.RawSyscall6(syscall.SYS_FGETXATTR, uintptr(fd), uintptr(unsafe.Pointer(p)),
		uintptr(unsafe.Pointer(&buf[0])), uintptr(len(buf)), 0, 0)
	return e == 0 && n == 1 && buf[0] == 'y'
}

// absent reports errors meaning "not there as that kind of thing" (vanished, swapped for a link).
func absent(err error) bool {
	switch err {
	case syscall.ENOENT, syscall.ELOOP, syscall.ENOTDIR, syscall.EINVAL, syscall.ENXIO, syscall.EISDIR, syscall.EMLINK:
		return true
	}
	return false
}

func openAt(dirfd int, name string, flags int) (int, error) {
	p, err := bytePtr(name)
	if err != nil {
		return -1, err
	}
	for {
		fd, _, e := syscall.RawSyscall6(syscall.SYS_OPENAT, uintptr(dirfd), uintptr(unsafe.Pointer(p)), uintptr(flags), 0, 0, 0)
		if e == syscall.EINTR {
			continue
		}
		if e != 0 {
			return -1, e
		}
		return int(fd), nil
	}
}

func fstat(fd int, st *syscall.Stat_t) error {
	if _, _, e := syscall.RawSyscall(syscall.SYS_FSTAT, uintptr(fd), uintptr(unsafe.Pointer(st)), 0); e != 0 {
		return e
	}
	return nil
}

func pread(fd int, buf []byte, off int64) (int, error) {
	for {
		n, _, e := syscall.RawSyscall6(syscall.SYS_PREAD64, uintptr(fd), uintptr(unsafe.Pointer(&buf[0])), uintptr(len(buf)), uintptr(off), 0, 0)
		if e == syscall.EINTR {
			continue
		}
		if e != 0 {
			return 0, e
		}
		return int(n), nil
	}
}

func closeFd(fd int) { syscall.RawSyscall(syscall.SYS_CLOSE, uintptr(fd), 0, 0) }
