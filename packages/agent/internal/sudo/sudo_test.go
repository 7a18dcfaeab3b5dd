package sudo

import (
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"syscall"
	"testing"
	"time"

	"burrow/agent/internal/reaper"
	"burrow/agent/internal/users"
)

func TestParse(t *testing.T) {
	cases := []struct {
		args []string
		want Request
		done bool
	}{
		{[]string{"-n", "true"}, Request{Argv: []string{"true"}}, false},
		{[]string{"-nE", "apt-get", "install", "-y", "jq"}, Request{Argv: []string{"apt-get", "install", "-y", "jq"}, Preserve: true}, false},
		{[]string{"-u", "user", "id"}, Request{Argv: []string{"id"}, User: "user"}, false},
		{[]string{"-uuser", "--", "-weird"}, Request{Argv: []string{"-weird"}, User: "user"}, false},
		{[]string{"--user=nobody", "A=1", "B=2", "env"}, Request{Argv: []string{"env"}, User: "nobody", SetEnv: []string{"A=1", "B=2"}}, false},
		{[]string{"-i"}, Request{Argv: []string{}, Login: true}, false},
		{[]string{"-s", "echo", "hi"}, Request{Argv: []string{"echo", "hi"}, Shell: true}, false},
		{[]string{"--preserve-env=HTTP_PROXY,FOO", "env"}, Request{Argv: []string{"env"}, PreserveList: []string{"HTTP_PROXY", "FOO"}}, false},
		{[]string{"-k"}, Request{}, true},
		{[]string{"-v"}, Request{}, true},
	}
	for _, c := range cases {
		got, done, _, err := Parse(c.args)
		if err != nil {
			t.Errorf("Parse(%q): %v", c.args, err)
			continue
		}
		if done != c.done || (!done && !reflect.DeepEqual(got, c.want)) {
			t.Errorf("Parse(%q) = %+v done=%v, want %+v done=%v", c.args, got, done, c.want, c.done)
		}
	}
	for _, bad := range [][]string{{}, {"-n"}, {"-u"}, {"-b", "sleep", "1"}, {"--chroot=/x", "ls"}} {
		if _, _, _, err := Parse(bad); err == nil {
			t.Errorf("Parse(%q) accepted", bad)
		}
	}
}

func accounts(t *testing.T) *users.DB {
	dir := t.TempDir()
	passwd := "root:x:0:0:root:/root:/bin/sh\nuser:x:1000:1000::/home/user:/bin/sh\nguest:x:1001:1001::/home/guest:/bin/sh\n"
	group := "root:x:0:\nsudo:x:27:user\nuser:x:1000:\nguest:x:1001:\n"
	if err := os.WriteFile(filepath.Join(dir, "passwd"), []byte(passwd), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "group"), []byte(group), 0o644); err != nil {
		t.Fatal(err)
	}
	return users.NewDB(filepath.Join(dir, "passwd"), filepath.Join(dir, "group"))
}

func TestAllowed(t *testing.T) {
	db := accounts(t)
	for uid, want := range map[uint32]bool{0: true, 1000: true, 1001: false, 4242: false} {
		if got := Allowed(db, uid); got != want {
			t.Errorf("Allowed(%d) = %v, want %v", uid, got, want)
		}
	}
}

// The whole path on the host: the test (root) asks a server on its own socket
// to run a command as another user on the test's files.
func TestRunsTheCommandOnTheCallersFiles(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root to switch users")
	}
	r := reaper.New()
	r.Start()
	defer r.Stop()
	socket := fmt.Sprintf("@burrow-sudo-test-%d", os.Getpid())
	s := &Server{Users: accounts(t), Reaper: r, Logf: t.Logf}
	if err := s.Listen(socket); err != nil {
		t.Fatal(err)
	}
	out, err := os.CreateTemp(t.TempDir(), "out")
	if err != nil {
		t.Fatal(err)
	}
	devnull, _ := os.Open(os.DevNull)
	defer devnull.Close()
	req := Request{Argv: []string{"sh", "-c", `echo "$(id -u) $USER $SUDO_USER $A $PATH"; exit 3`}, User: "guest", SetEnv: []string{"A=set"}, Cwd: "/"}
	code, err := Run(req, socket, [3]*os.File{devnull, out, out}, nil)
	if err != nil {
		t.Fatal(err)
	}
	data, _ := os.ReadFile(out.Name())
	want := "1001 guest root set " + SecurePath + "\n"
	if code != 3 || string(data) != want {
		t.Fatalf("exit %d, output %q; want 3, %q", code, data, want)
	}

	// A caller's signal reaches the command.
	sigs := make(chan os.Signal, 1)
	done := make(chan int, 1)
	go func() {
		c, _ := Run(Request{Argv: []string{"sleep", "30"}, Cwd: "/"}, socket, [3]*os.File{devnull, out, out}, sigs)
		done <- c
	}()
	sigs <- syscall.SIGTERM
	select {
	case c := <-done:
		if c != 128+int(syscall.SIGTERM) {
			t.Fatalf("exit %d after SIGTERM", c)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the signal did not end the command")
	}

	code, _ = Run(Request{Argv: []string{"no-such-command-here"}, Cwd: "/"}, socket, [3]*os.File{devnull, out, out}, nil)
	data, _ = os.ReadFile(out.Name())
	if code != 1 || !strings.Contains(string(data), "no-such-command-here: command not found") {
		t.Fatalf("exit %d, output %q", code, data)
	}
}
