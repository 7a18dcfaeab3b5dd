package users

import (
	"os"
	"path/filepath"
	"testing"
	"time"
)

const passwd = `root:x:0:0:root:/root:/bin/bash
# comment
daemon:x:1:1:daemon:/usr/sbin:/usr/sbin/nologin
broken line
user:x:1000:1000::/home/user:/bin/bash
bad:x:notanumber:1::/:/bin/sh
`

const group = `root:x:0:
sudo:x:27:user,other
docker:x:999:user
users:x:100:
user:x:1000:user
`

func writeDB(t *testing.T) (*DB, string) {
	dir := t.TempDir()
	pw, gr := filepath.Join(dir, "passwd"), filepath.Join(dir, "group")
	if err := os.WriteFile(pw, []byte(passwd), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(gr, []byte(group), 0o644); err != nil {
		t.Fatal(err)
	}
	return NewDB(pw, gr), pw
}

func TestParsePasswd(t *testing.T) {
	us := ParsePasswd([]byte(passwd))
	if len(us) != 3 {
		t.Fatalf("parsed %d users: %+v", len(us), us)
	}
	u := us[2]
	if u.Name != "user" || u.UID != 1000 || u.GID != 1000 || u.Home != "/home/user" || u.Shell != "/bin/bash" {
		t.Fatalf("user = %+v", u)
	}
	gs := ParseGroup([]byte(group))
	if len(gs) != 5 || gs[1].Name != "sudo" || len(gs[1].Members) != 2 {
		t.Fatalf("groups = %+v", gs)
	}
}

func TestLookup(t *testing.T) {
	db, pw := writeDB(t)
	u, err := db.Lookup("user")
	if err != nil {
		t.Fatal(err)
	}
	if len(u.Groups) != 2 || u.Groups[0] != 27 || u.Groups[1] != 999 {
		t.Fatalf("supplementary groups = %v", u.Groups)
	}
	if u, err := db.Lookup("0"); err != nil || u.Name != "root" {
		t.Fatalf("lookup by uid = %+v %v", u, err)
	}
	if _, err := db.Lookup("nobody"); err == nil {
		t.Fatal("unknown user found")
	}
	if db.UserName(1000) != "user" || db.UserName(4321) != "4321" || db.GroupName(27) != "sudo" || db.GroupName(5) != "5" {
		t.Fatal("name lookups wrong")
	}
	// The file is re-read when it changes.
	later := time.Now().Add(time.Hour)
	if err := os.WriteFile(pw, []byte(passwd+"new:x:1001:1001::/home/new:/bin/sh\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	_ = os.Chtimes(pw, later, later)
	if u, err := db.Lookup("new"); err != nil || u.UID != 1001 {
		t.Fatalf("new user after reload = %+v %v", u, err)
	}
	missing := NewDB(filepath.Join(t.TempDir(), "none"), "")
	if _, err := missing.Lookup("root"); err == nil {
		t.Fatal("lookup without passwd file succeeded")
	}
}

func TestResolvePath(t *testing.T) {
	u := &User{Name: "user", Home: "/home/user"}
	cases := []struct{ in, workdir, want string }{
		{"", "", "/home/user"},
		{"", "/work", "/work"},
		{"~", "", "/home/user"},
		{"~/a/b", "/work", "/home/user/a/b"},
		{"a/../b", "/work", "/home/user/b"},
		{"/etc//passwd", "", "/etc/passwd"},
		{"../../..", "", "/"},
	}
	for _, c := range cases {
		got, err := ResolvePath(c.in, u, c.workdir)
		if err != nil || got != c.want {
			t.Errorf("ResolvePath(%q, workdir %q) = %q, %v; want %q", c.in, c.workdir, got, err, c.want)
		}
	}
	if _, err := ResolvePath("~root/x", u, ""); err == nil {
		t.Error("~root accepted")
	}
}
