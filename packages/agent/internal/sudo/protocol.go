// Package sudo is passwordless sudo for gVisor sandboxes. gVisor runs every
// process with no_new_privs, so a setuid sudo cannot raise privileges there.
// Instead the agent (root, PID 1) listens on an abstract unix socket; the
// `sudo` command (the agent binary called as sudo) sends it the command line,
// its working directory and environment, and its stdin/stdout/stderr as file
// descriptors. The agent checks the caller's uid from the socket (SO_PEERCRED),
// allows root and members of the group `sudo`, runs the command as the target
// user on the caller's descriptors, forwards the signals the caller gets, and
// answers with the exit code.
package sudo

// SocketName is the abstract unix socket the agent listens on.
const SocketName = "@burrow-sudo"

// Group is the group whose members may run commands as any user.
const Group = "sudo"

// SecurePath is PATH for commands unless the caller's environment is kept.
const SecurePath = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

// Request is the first message: what to run and how.
type Request struct {
	Argv []string `json:"argv"`
	// Env is the caller's environment (kept with -E, else only TERM and the like).
	Env []string `json:"env"`
	// SetEnv holds VAR=value words given before the command.
	SetEnv   []string `json:"setEnv,omitempty"`
	Cwd      string   `json:"cwd"`
	User     string   `json:"user,omitempty"`
	Login    bool     `json:"login,omitempty"`
	Shell    bool     `json:"shell,omitempty"`
	Preserve bool     `json:"preserve,omitempty"`
	// PreserveList names variables kept from the caller (--preserve-env=A,B).
	PreserveList []string `json:"preserveList,omitempty"`
}

// Control is a later message from the caller: a signal to pass on.
type Control struct {
	Signal int `json:"signal"`
}

// Reply is the agent's answer once the command has ended (or failed to start).
type Reply struct {
	Exit  int    `json:"exit"`
	Error string `json:"error,omitempty"`
}
