package process

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"strings"
	"syscall"

	"burrow/agent/internal/connect"
	"burrow/agent/internal/state"
	"burrow/agent/internal/wire"
)

// Service implements process.Process over a Manager.
type Service struct {
	M     *Manager
	State *state.State
	Logf  func(format string, args ...interface{})
}

const svc = "process.Process"

// Register adds the procedures of process.Process to mux.
func (s *Service) Register(mux *connect.Mux) {
	mux.Stream(connect.Procedure(svc, "Start"), s.start)
	mux.Stream(connect.Procedure(svc, "Connect"), s.connect)
	mux.Unary(connect.Procedure(svc, "List"), s.list)
	mux.Unary(connect.Procedure(svc, "SendInput"), s.sendInput)
	mux.Unary(connect.Procedure(svc, "SendSignal"), s.sendSignal)
	mux.Unary(connect.Procedure(svc, "CloseStdin"), s.closeStdin)
	mux.Unary(connect.Procedure(svc, "Update"), s.update)
	mux.ClientStream(connect.Procedure(svc, "StreamInput"), s.streamInput)
}

// spec builds the Spec of a StartRequest made by the request's user.
func (s *Service) spec(r *http.Request, in *wire.StartRequest) (Spec, error) {
	if in.Process == nil || in.Process.Cmd == "" {
		return Spec{}, connect.Errorf(connect.InvalidArgument, "process.cmd is required")
	}
	u, err := s.State.ResolveUser(state.RequestUsername(r))
	if err != nil {
		return Spec{}, err
	}
	cfg := *in.Process
	var dir string
	if cfg.Cwd != nil && *cfg.Cwd != "" {
		if dir, err = s.State.ResolvePath(*cfg.Cwd, u); err != nil {
			return Spec{}, err
		}
		if st, err := os.Stat(dir); err != nil || !st.IsDir() {
			return Spec{}, connect.Errorf(connect.InvalidArgument, "cwd '%s' does not exist or is not a directory", dir)
		}
	} else {
		if dir, err = s.State.ResolvePath("", u); err != nil {
			return Spec{}, err
		}
		if st, err := os.Stat(dir); err != nil || !st.IsDir() {
			dir = "/"
		}
	}
	cfg.Cwd = &dir
	pty := in.PTY != nil
	env, err := BuildEnv(u, s.State.EnvVars(), cfg.Envs, pty)
	if err != nil {
		return Spec{}, err
	}
	cred, err := Credential(u)
	if err != nil {
		return Spec{}, err
	}
	timeout, _, err := connect.Timeout(r.Header)
	if err != nil {
		return Spec{}, err
	}
	sp := Spec{
		Argv: append([]string{cfg.Cmd}, cfg.Args...), Env: env, Dir: dir, Cred: cred,
		PTY: pty, Stdin: in.Stdin == nil || *in.Stdin, Tag: in.Tag, Config: cfg, Timeout: timeout,
	}
	if pty && in.PTY.Size != nil {
		if in.PTY.Size.Cols > 0xffff || in.PTY.Size.Rows > 0xffff {
			return Spec{}, connect.Errorf(connect.InvalidArgument, "pty size %dx%d is too large", in.PTY.Size.Cols, in.PTY.Size.Rows)
		}
		sp.Cols, sp.Rows = uint16(in.PTY.Size.Cols), uint16(in.PTY.Size.Rows)
	}
	return sp, nil
}

func (s *Service) start(ctx context.Context, req *connect.Request, st *connect.Stream) error {
	var in wire.StartRequest
	if err := req.Decode(&in); err != nil {
		return err
	}
	sp, err := s.spec(req.HTTP, &in)
	if err != nil {
		return err
	}
	p, rd, err := s.M.Start(sp)
	if err != nil {
		return err
	}
	if p.Pid == 0 {
		s.Logf("process not started: %s: cannot execute", short(sp.Argv))
	} else {
		s.Logf("process %d started: %s", p.Pid, short(sp.Argv))
	}
	return follow(ctx, p, st, rd, connect.KeepaliveInterval(req.HTTP.Header), s.Logf)
}

func short(argv []string) string {
	cmd := strings.Join(argv, " ")
	if len(cmd) > 80 {
		cmd = cmd[:77] + "..."
	}
	return cmd
}

func (s *Service) connect(ctx context.Context, req *connect.Request, st *connect.Stream) error {
	var in wire.ConnectRequest
	if err := req.Decode(&in); err != nil {
		return err
	}
	p, err := s.M.Find(in.Process)
	if err != nil {
		return err
	}
	return follow(ctx, p, st, p.out.NewReaderAtOldest(), connect.KeepaliveInterval(req.HTTP.Header), s.Logf)
}

func (s *Service) list(ctx context.Context, req *connect.Request) (interface{}, error) {
	if err := req.Decode(&wire.Empty{}); err != nil {
		return nil, err
	}
	var out wire.ListResponse
	for _, p := range s.M.Running() {
		out.Processes = append(out.Processes, p.Info())
	}
	return out, nil
}

func applyInput(p *Process, in *wire.ProcessInput) error {
	switch {
	case in == nil:
		return connect.Errorf(connect.InvalidArgument, "input is required")
	case in.Stdin != nil:
		return p.WriteStdin(*in.Stdin)
	case in.PTY != nil:
		return p.WritePTY(*in.PTY)
	}
	return connect.Errorf(connect.InvalidArgument, "input needs stdin or pty")
}

func (s *Service) sendInput(ctx context.Context, req *connect.Request) (interface{}, error) {
	var in wire.SendInputRequest
	if err := req.Decode(&in); err != nil {
		return nil, err
	}
	p, err := s.M.FindRunning(in.Process)
	if err != nil {
		return nil, err
	}
	return wire.Empty{}, applyInput(p, in.Input)
}

func (s *Service) sendSignal(ctx context.Context, req *connect.Request) (interface{}, error) {
	var in wire.SendSignalRequest
	if err := req.Decode(&in); err != nil {
		return nil, err
	}
	if in.Signal <= 0 || in.Signal > 64 {
		return nil, connect.Errorf(connect.InvalidArgument, "signal must be SIGNAL_SIGKILL, SIGNAL_SIGTERM or a signal number")
	}
	p, err := s.M.FindRunning(in.Process)
	if err != nil {
		return nil, err
	}
	return wire.Empty{}, p.Signal(syscall.Signal(in.Signal))
}

func (s *Service) closeStdin(ctx context.Context, req *connect.Request) (interface{}, error) {
	var in wire.CloseStdinRequest
	if err := req.Decode(&in); err != nil {
		return nil, err
	}
	p, err := s.M.FindRunning(in.Process)
	if err != nil {
		return nil, err
	}
	return wire.Empty{}, p.CloseStdin()
}

func (s *Service) update(ctx context.Context, req *connect.Request) (interface{}, error) {
	var in wire.UpdateRequest
	if err := req.Decode(&in); err != nil {
		return nil, err
	}
	p, err := s.M.FindRunning(in.Process)
	if err != nil {
		return nil, err
	}
	if in.PTY == nil {
		return wire.Empty{}, nil
	}
	if in.PTY.Size == nil {
		return nil, connect.Errorf(connect.InvalidArgument, "pty.size is required")
	}
	return wire.Empty{}, p.Resize(uint32(in.PTY.Size.Cols), uint32(in.PTY.Size.Rows))
}

// streamInputRequest is one message of StreamInput (a oneof).
type streamInputRequest struct {
	Start *struct {
		Process *wire.ProcessSelector `json:"process"`
	} `json:"start"`
	Data *struct {
		Input *wire.ProcessInput `json:"input"`
	} `json:"data"`
	Keepalive *wire.Empty `json:"keepalive"`
}

func (s *Service) streamInput(ctx context.Context, r *http.Request, next func() ([]byte, error)) (interface{}, error) {
	var p *Process
	for {
		msg, err := next()
		if err == io.EOF {
			return wire.Empty{}, nil
		}
		if err != nil {
			return nil, err
		}
		var in streamInputRequest
		if err := json.Unmarshal(msg, &in); err != nil {
			return nil, connect.Errorf(connect.InvalidArgument, "invalid JSON request message: %v", err)
		}
		switch {
		case in.Start != nil:
			if p, err = s.M.FindRunning(in.Start.Process); err != nil {
				return nil, err
			}
		case in.Data != nil:
			if p == nil {
				return nil, connect.Errorf(connect.FailedPrecondition, "send a start message before data")
			}
			if err := applyInput(p, in.Data.Input); err != nil {
				return nil, err
			}
		}
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
	}
}
