// Package users reads accounts from /etc/passwd and /etc/group (no libc, no
// NSS: the agent is static) and resolves request paths against a user's home.
package users

import (
	"bufio"
	"bytes"
	"fmt"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"
)

// User is one /etc/passwd entry plus its supplementary groups.
type User struct {
	Name   string
	UID    uint32
	GID    uint32
	Home   string
	Shell  string
	Groups []uint32 // supplementary gids from /etc/group, primary gid excluded
}

// Group is one /etc/group entry.
type Group struct {
	Name    string
	GID     uint32
	Members []string
}

// ParsePasswd parses passwd(5) lines; malformed lines are skipped.
func ParsePasswd(data []byte) []User {
	var out []User
	sc := bufio.NewScanner(bytes.NewReader(data))
	sc.Buffer(make([]byte, 64*1024), 1<<20)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		f := strings.Split(line, ":")
		if len(f) < 7 || f[0] == "" {
			continue
		}
		uid, err1 := strconv.ParseUint(f[2], 10, 32)
		gid, err2 := strconv.ParseUint(f[3], 10, 32)
		if err1 != nil || err2 != nil {
			continue
		}
		out = append(out, User{Name: f[0], UID: uint32(uid), GID: uint32(gid), Home: f[5], Shell: f[6]})
	}
	return out
}

// ParseGroup parses group(5) lines; malformed lines are skipped.
func ParseGroup(data []byte) []Group {
	var out []Group
	sc := bufio.NewScanner(bytes.NewReader(data))
	sc.Buffer(make([]byte, 64*1024), 1<<20)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		f := strings.Split(line, ":")
		if len(f) < 3 || f[0] == "" {
			continue
		}
		gid, err := strconv.ParseUint(f[2], 10, 32)
		if err != nil {
			continue
		}
		g := Group{Name: f[0], GID: uint32(gid)}
		if len(f) > 3 && f[3] != "" {
			for _, m := range strings.Split(f[3], ",") {
				if m = strings.TrimSpace(m); m != "" {
					g.Members = append(g.Members, m)
				}
			}
		}
		out = append(out, g)
	}
	return out
}

// fileStamp identifies a version of a file for cache invalidation.
type fileStamp struct {
	mod  time.Time
	size int64
	ok   bool
}

func stampOf(path string) fileStamp {
	st, err := os.Stat(path)
	if err != nil {
		return fileStamp{}
	}
	return fileStamp{mod: st.ModTime(), size: st.Size(), ok: true}
}

// DB looks up accounts, re-reading the files when they change (useradd inside
// a sandbox is common).
type DB struct {
	PasswdPath string
	GroupPath  string

	mu        sync.Mutex
	pwStamp   fileStamp
	grStamp   fileStamp
	users     []User
	groups    []Group
	loadedErr error
}

// NewDB reads accounts from the given passwd and group files.
func NewDB(passwdPath, groupPath string) *DB {
	return &DB{PasswdPath: passwdPath, GroupPath: groupPath}
}

func (d *DB) refresh() error {
	pw, gr := stampOf(d.PasswdPath), stampOf(d.GroupPath)
	if pw == d.pwStamp && gr == d.grStamp && (d.users != nil || d.loadedErr != nil) {
		return d.loadedErr
	}
	d.pwStamp, d.grStamp = pw, gr
	data, err := os.ReadFile(d.PasswdPath)
	if err != nil {
		d.users, d.groups, d.loadedErr = nil, nil, fmt.Errorf("read %s: %w", d.PasswdPath, err)
		return d.loadedErr
	}
	d.users = ParsePasswd(data)
	if d.users == nil {
		d.users = []User{}
	}
	d.groups = nil
	if gdata, gerr := os.ReadFile(d.GroupPath); gerr == nil {
		d.groups = ParseGroup(gdata)
	}
	d.loadedErr = nil
	return nil
}

// Lookup finds a user by name (or by numeric uid given as a string).
func (d *DB) Lookup(name string) (*User, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if err := d.refresh(); err != nil {
		return nil, err
	}
	for i := range d.users {
		if d.users[i].Name == name {
			u := d.users[i]
			u.Groups = d.supplementaryLocked(u)
			return &u, nil
		}
	}
	if uid, err := strconv.ParseUint(name, 10, 32); err == nil {
		for i := range d.users {
			if d.users[i].UID == uint32(uid) {
				u := d.users[i]
				u.Groups = d.supplementaryLocked(u)
				return &u, nil
			}
		}
	}
	return nil, fmt.Errorf("user %q not found in %s", name, d.PasswdPath)
}

func (d *DB) supplementaryLocked(u User) []uint32 {
	var out []uint32
	for _, g := range d.groups {
		if g.GID == u.GID {
			continue
		}
		for _, m := range g.Members {
			if m == u.Name {
				out = append(out, g.GID)
				break
			}
		}
	}
	return out
}

// UserName returns the name of uid, or the number as a string.
func (d *DB) UserName(uid uint32) string {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.refresh() == nil {
		for _, u := range d.users {
			if u.UID == uid {
				return u.Name
			}
		}
	}
	return strconv.FormatUint(uint64(uid), 10)
}

// GroupName returns the name of gid, or the number as a string.
func (d *DB) GroupName(gid uint32) string {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.refresh() == nil {
		for _, g := range d.groups {
			if g.GID == gid {
				return g.Name
			}
		}
	}
	return strconv.FormatUint(uint64(gid), 10)
}
