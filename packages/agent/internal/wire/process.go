package wire

// Messages of package process (service process.Process).

// ProcessConfig is what a process was started with.
type ProcessConfig struct {
	Cmd  string            `json:"cmd,omitempty"`
	Args []string          `json:"args,omitempty"`
	Envs map[string]string `json:"envs,omitempty"`
	Cwd  *string           `json:"cwd,omitempty"`
}

// PTYSize is a terminal size in character cells.
type PTYSize struct {
	Cols U32 `json:"cols,omitempty"`
	Rows U32 `json:"rows,omitempty"`
}

// PTY asks for a pseudo-terminal of the given size.
type PTY struct {
	Size *PTYSize `json:"size,omitempty"`
}

// StartRequest is process.StartRequest. Stdin absent means "keep stdin open"
// (the behaviour of clients that predate the field).
type StartRequest struct {
	Process *ProcessConfig `json:"process"`
	PTY     *PTY           `json:"pty,omitempty"`
	Tag     *string        `json:"tag,omitempty"`
	Stdin   *bool          `json:"stdin,omitempty"`
}

// ProcessSelector picks a process by pid or by tag (a oneof).
type ProcessSelector struct {
	Pid *U32    `json:"pid,omitempty"`
	Tag *string `json:"tag,omitempty"`
}

// ConnectRequest attaches to a process.
type ConnectRequest struct {
	Process *ProcessSelector `json:"process"`
}

// ProcessInput is input for stdin or for the pty (a oneof).
type ProcessInput struct {
	Stdin *Bytes `json:"stdin,omitempty"`
	PTY   *Bytes `json:"pty,omitempty"`
}

// SendInputRequest writes input to a process.
type SendInputRequest struct {
	Process *ProcessSelector `json:"process"`
	Input   *ProcessInput    `json:"input"`
}

// SendSignalRequest signals a process.
type SendSignalRequest struct {
	Process *ProcessSelector `json:"process"`
	Signal  Signal           `json:"signal"`
}

// CloseStdinRequest closes a process's stdin.
type CloseStdinRequest struct {
	Process *ProcessSelector `json:"process"`
}

// UpdateRequest resizes a process's pty.
type UpdateRequest struct {
	Process *ProcessSelector `json:"process"`
	PTY     *PTY             `json:"pty,omitempty"`
}

// ProcessInfo describes a running process in ListResponse.
type ProcessInfo struct {
	Config *ProcessConfig `json:"config,omitempty"`
	Pid    uint32         `json:"pid,omitempty"`
	Tag    *string        `json:"tag,omitempty"`
}

// ListResponse lists running processes.
type ListResponse struct {
	Processes []ProcessInfo `json:"processes,omitempty"`
}

// Empty is every response message without fields.
type Empty struct{}

// Signal is the process.Signal enum.
type Signal int32

// Values of process.Signal; the numbers are the Linux signal numbers.
const (
	SignalUnspecified Signal = 0
	SignalSIGTERM     Signal = 15
	SignalSIGKILL     Signal = 9
)

var signalByName = map[string]int32{
	"SIGNAL_UNSPECIFIED": 0,
	"SIGNAL_SIGTERM":     15,
	"SIGNAL_SIGKILL":     9,
}

var signalNames = map[int32]string{0: "SIGNAL_UNSPECIFIED", 15: "SIGNAL_SIGTERM", 9: "SIGNAL_SIGKILL"}

// UnmarshalJSON accepts "SIGNAL_SIGKILL" or a number.
func (s *Signal) UnmarshalJSON(data []byte) error {
	v, err := enumValue(data, signalByName)
	*s = Signal(v)
	return err
}

// MarshalJSON writes the enum name.
func (s Signal) MarshalJSON() ([]byte, error) { return enumName(int32(s), signalNames) }

// ProcessEvent is one event of a Start or Connect stream (a oneof).
type ProcessEvent struct {
	Start     *StartEvent `json:"start,omitempty"`
	Data      *DataEvent  `json:"data,omitempty"`
	End       *EndEvent   `json:"end,omitempty"`
	Keepalive *Empty      `json:"keepalive,omitempty"`
}

// StartEvent carries the pid of the started process.
type StartEvent struct {
	Pid uint32 `json:"pid,omitempty"`
}

// DataEvent carries one chunk of output (a oneof).
type DataEvent struct {
	Stdout Bytes `json:"stdout,omitempty"`
	Stderr Bytes `json:"stderr,omitempty"`
	PTY    Bytes `json:"pty,omitempty"`
}

// EndEvent tells how the process ended.
type EndEvent struct {
	ExitCode int32   `json:"exitCode,omitempty"`
	Exited   bool    `json:"exited,omitempty"`
	Status   string  `json:"status,omitempty"`
	Error    *string `json:"error,omitempty"`
}

// StreamResponse is StartResponse and ConnectResponse (same shape).
type StreamResponse struct {
	Event *ProcessEvent `json:"event,omitempty"`
}
