package sudo

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"os"
	"os/signal"
	"strings"
	"syscall"
)

// Usage is printed for -h and for a command line sudo cannot run.
const Usage = `usage: sudo [-nEHSk] [-u user] [-i | -s] [--preserve-env[=list]] [VAR=value...] [command [args...]]
Burrow's sudo: the sandbox agent runs the command as the user (default root)
for members of the group "sudo".
`

// Parse turns sudo's command line into a request. done is set for options
// that need no command (-h, -V, -v, -k, -l); their output is in msg.
func Parse(args []string) (req Request, done bool, msg string, err error) {
	i := 0
	takeValue := func(opt string, rest string) (string, error) {
		if rest != "" {
			return rest, nil
		}
		if i+1 >= len(args) {
			return "", fmt.Errorf("option %s requires an argument", opt)
		}
		i++
		return args[i], nil
	}
	for ; i < len(args); i++ {
		a := args[i]
		if a == "--" {
			i++
			break
		}
		if !strings.HasPrefix(a, "-") || a == "-" {
			break
		}
		if strings.HasPrefix(a, "--") {
			name, value, hasValue := strings.Cut(a[2:], "=")
			switch name {
			case "non-interactive", "reset-timestamp", "remove-timestamp", "stdin", "set-home":
			case "preserve-env":
				if hasValue {
					req.PreserveList = append(req.PreserveList, strings.Split(value, ",")...)
				} else {
					req.Preserve = true
				}
			case "login":
				req.Login = true
			case "shell":
				req.Shell = true
			case "user":
				if !hasValue {
					v, err := takeValue("--user", "")
					if err != nil {
						return req, false, "", err
					}
					value = v
				}
				req.User = value
			case "help":
				return req, true, Usage, nil
			case "version":
				return req, true, "Burrow sudo (the sandbox agent)\n", nil
			default:
				return req, false, "", fmt.Errorf("unsupported option --%s", name)
			}
			continue
		}
		flags := a[1:]
		for j := 0; j < len(flags); j++ {
			switch c := flags[j]; c {
			case 'n', 'S', 'H', 'P', 'A':
			case 'E':
				req.Preserve = true
			case 'i':
				req.Login = true
			case 's':
				req.Shell = true
			case 'k', 'K', 'v':
				if len(args) == i+1 && len(flags) == 1 {
					return req, true, "", nil
				}
			case 'l':
				return req, true, "User may run the following commands on this sandbox:\n    (ALL : ALL) NOPASSWD: ALL\n", nil
			case 'h':
				return req, true, Usage, nil
			case 'V':
				return req, true, "Burrow sudo (the sandbox agent)\n", nil
			case 'u':
				v, err := takeValue("-u", flags[j+1:])
				if err != nil {
					return req, false, "", err
				}
				req.User = v
				j = len(flags)
			default:
				return req, false, "", fmt.Errorf("unsupported option -%c", c)
			}
		}
	}
	for ; i < len(args) && strings.Contains(args[i], "=") && !strings.HasPrefix(args[i], "="); i++ {
		req.SetEnv = append(req.SetEnv, args[i])
	}
	req.Argv = args[i:]
	if len(req.Argv) == 0 && !req.Login && !req.Shell {
		return req, false, "", fmt.Errorf("no command given")
	}
	return req, false, "", nil
}

// Main is `sudo`: it sends the command to the agent and exits with its code.
func Main(args []string) int {
	fail := func(format string, a ...interface{}) int {
		fmt.Fprintf(os.Stderr, "sudo: "+format+"\n", a...)
		return 1
	}
	req, done, msg, err := Parse(args)
	if err != nil {
		fmt.Fprint(os.Stderr, Usage)
		return fail("%v", err)
	}
	if done {
		fmt.Print(msg)
		return 0
	}
	req.Env = os.Environ()
	req.Cwd, _ = os.Getwd()
	sigs := make(chan os.Signal, 8)
	signal.Notify(sigs, syscall.SIGINT, syscall.SIGTERM, syscall.SIGHUP, syscall.SIGQUIT, syscall.SIGUSR1, syscall.SIGUSR2, syscall.SIGWINCH)
	code, err := Run(req, SocketName, [3]*os.File{os.Stdin, os.Stdout, os.Stderr}, sigs)
	if err != nil {
		return fail("%v", err)
	}
	return code
}

// Run sends req with the three files to the agent at socket, passes on the
// signals that arrive on sigs, and returns the command's exit code.
func Run(req Request, socket string, files [3]*os.File, sigs <-chan os.Signal) (int, error) {
	conn, err := net.DialUnix("unix", nil, &net.UnixAddr{Name: socket, Net: "unix"})
	if err != nil {
		return 1, fmt.Errorf("the sandbox agent does not answer (%v)", err)
	}
	defer conn.Close()
	body, err := json.Marshal(req)
	if err != nil {
		return 1, err
	}
	rights := syscall.UnixRights(int(files[0].Fd()), int(files[1].Fd()), int(files[2].Fd()))
	// Who is asking: the kernel refuses ids that are not the sender's own.
	creds := syscall.UnixCredentials(&syscall.Ucred{Pid: int32(os.Getpid()), Uid: uint32(os.Getuid()), Gid: uint32(os.Getgid())})
	if _, _, err := conn.WriteMsgUnix(append(body, '\n'), append(rights, creds...), nil); err != nil {
		return 1, err
	}
	go func() {
		for s := range sigs {
			msg, _ := json.Marshal(Control{Signal: int(s.(syscall.Signal))})
			_, _ = conn.Write(append(msg, '\n'))
		}
	}()
	line, err := bufio.NewReader(conn).ReadBytes('\n')
	if err != nil && (err != io.EOF || len(line) == 0) {
		return 1, fmt.Errorf("the sandbox agent closed the connection (%v)", err)
	}
	var reply Reply
	if err := json.Unmarshal(line, &reply); err != nil {
		return 1, fmt.Errorf("bad answer from the sandbox agent: %v", err)
	}
	if reply.Error != "" {
		fmt.Fprintf(files[2], "sudo: %s\n", reply.Error)
	}
	return reply.Exit, nil
}
