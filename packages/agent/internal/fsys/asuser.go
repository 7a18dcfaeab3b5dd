package fsys

import (
	"fmt"
	"os"
	"runtime"
	"syscall"
	"unsafe"

	"burrow/agent/internal/connect"
	"burrow/agent/internal/users"
)

// asUser runs fn with u's credentials (uid, gid and supplementary groups), so
// the kernel checks every file access in fn as it would for u's own programs
// (like `cat` run as u). fn runs on an OS thread of its own whose credentials
// are changed with raw syscalls (the thread alone; Go's syscall.Setresuid
// would change every thread of the agent) and which is never unlocked, so the
// Go runtime ends it when fn returns: no other goroutine ever runs with u's
// credentials, and the agent's other threads stay root. Root, or an agent
// that is not root (tests), runs fn as it is.
func asUser(u *users.User, fn func() error) error {
	if u == nil || u.UID == 0 || os.Geteuid() != 0 {
		return fn()
	}
	done := make(chan error, 1)
	go func() {
		runtime.LockOSThread() // never unlocked: the thread exits with this goroutine
		defer func() {
			if p := recover(); p != nil {
				done <- connect.Errorf(connect.Internal, "file operation as %s failed: %v", u.Name, p)
			}
		}()
		if err := setThreadCredentials(u); err != nil {
			done <- connect.Errorf(connect.Internal, "switch to user %s: %v", u.Name, err)
			return
		}
		done <- fn()
	}()
	return <-done
}

// setThreadCredentials gives the calling thread u's groups, gid and uid (all
// of real, effective and saved, which also drops the thread's capabilities).
func setThreadCredentials(u *users.User) error {
	groups := append([]uint32{u.GID}, u.Groups...)
	if _, _, e := syscall.RawSyscall(syscall.SYS_SETGROUPS, uintptr(len(groups)), uintptr(unsafe.Pointer(&groups[0])), 0); e != 0 {
		return fmt.Errorf("setgroups: %w", e)
	}
	gid, uid := uintptr(u.GID), uintptr(u.UID)
	if _, _, e := syscall.RawSyscall(syscall.SYS_SETRESGID, gid, gid, gid); e != 0 {
		return fmt.Errorf("setresgid: %w", e)
	}
	if _, _, e := syscall.RawSyscall(syscall.SYS_SETRESUID, uid, uid, uid); e != 0 {
		return fmt.Errorf("setresuid: %w", e)
	}
	return nil
}
