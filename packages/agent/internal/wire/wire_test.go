package wire

import (
	"encoding/json"
	"testing"
	"time"
)

func marshal(t *testing.T, v interface{}) string {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func TestProcessEventJSON(t *testing.T) {
	msg := "exit status 2"
	cases := []struct {
		ev   ProcessEvent
		want string
	}{
		{ProcessEvent{Start: &StartEvent{Pid: 42}}, `{"start":{"pid":42}}`},
		{ProcessEvent{Data: &DataEvent{Stdout: []byte("hi\n")}}, `{"data":{"stdout":"aGkK"}}`},
		{ProcessEvent{Data: &DataEvent{PTY: []byte{0xff, 0x00}}}, `{"data":{"pty":"/wA="}}`},
		{ProcessEvent{End: &EndEvent{Exited: true, Status: "exit status 0"}}, `{"end":{"exited":true,"status":"exit status 0"}}`},
		{ProcessEvent{End: &EndEvent{ExitCode: 2, Exited: true, Status: msg, Error: &msg}}, `{"end":{"exitCode":2,"exited":true,"status":"exit status 2","error":"exit status 2"}}`},
		{ProcessEvent{End: &EndEvent{ExitCode: -1, Status: "signal: killed"}}, `{"end":{"exitCode":-1,"status":"signal: killed"}}`},
		{ProcessEvent{Keepalive: &Empty{}}, `{"keepalive":{}}`},
	}
	for _, c := range cases {
		if got := marshal(t, StreamResponse{Event: &c.ev}); got != `{"event":`+c.want+`}` {
			t.Errorf("got %s, want {\"event\":%s}", got, c.want)
		}
	}
}

func TestEntryInfoJSON(t *testing.T) {
	ts := Timestamp(time.Date(2024, 5, 6, 7, 8, 9, 120000000, time.UTC))
	target := "/x"
	e := EntryInfo{Name: "a", Type: FileTypeDirectory, Path: "/a", Size: 5000000000, Mode: 0o755,
		Permissions: "drwxr-xr-x", Owner: "root", Group: "root", ModifiedTime: &ts, SymlinkTarget: &target}
	want := `{"name":"a","type":"FILE_TYPE_DIRECTORY","path":"/a","size":"5000000000","mode":493,"permissions":"drwxr-xr-x","owner":"root","group":"root","modifiedTime":"2024-05-06T07:08:09.120Z","symlinkTarget":"/x"}`
	if got := marshal(t, e); got != want {
		t.Fatalf("got  %s\nwant %s", got, want)
	}
	if got := marshal(t, EntryInfo{Name: "e", Type: FileTypeFile}); got != `{"name":"e","type":"FILE_TYPE_FILE"}` {
		t.Fatalf("defaults not omitted: %s", got)
	}
	if got := marshal(t, FilesystemEvent{Name: "f", Type: EventCreate}); got != `{"name":"f","type":"EVENT_TYPE_CREATE"}` {
		t.Fatalf("event = %s", got)
	}
	if got := marshal(t, WatchDirResponse{Start: &Empty{}}); got != `{"start":{}}` {
		t.Fatalf("watch start = %s", got)
	}
	if got := marshal(t, ListResponse{}); got != `{}` {
		t.Fatalf("empty list = %s", got)
	}
}

func TestTimestampWidths(t *testing.T) {
	base := time.Date(2024, 1, 2, 3, 4, 5, 0, time.FixedZone("x", 3600))
	cases := map[int]string{
		0:         "2024-01-02T02:04:05Z",
		500000000: "2024-01-02T02:04:05.500Z",
		1000:      "2024-01-02T02:04:05.000001Z",
		7:         "2024-01-02T02:04:05.000000007Z",
	}
	for ns, want := range cases {
		if got := FormatTimestamp(base.Add(time.Duration(ns))); got != want {
			t.Errorf("%d ns: got %s, want %s", ns, got, want)
		}
	}
}

func TestRequestDecoding(t *testing.T) {
	var sig SendSignalRequest
	if err := json.Unmarshal([]byte(`{"process":{"pid":12},"signal":"SIGNAL_SIGKILL"}`), &sig); err != nil {
		t.Fatal(err)
	}
	if sig.Signal != SignalSIGKILL || sig.Process.Pid == nil || *sig.Process.Pid != 12 {
		t.Fatalf("signal by name = %+v", sig)
	}
	if err := json.Unmarshal([]byte(`{"process":{"pid":"13"},"signal":15}`), &sig); err != nil {
		t.Fatal(err)
	}
	if sig.Signal != SignalSIGTERM || *sig.Process.Pid != 13 {
		t.Fatalf("signal by number = %+v", sig)
	}
	if err := json.Unmarshal([]byte(`{"signal":"SIGNAL_BOGUS"}`), &sig); err == nil {
		t.Fatal("unknown enum name accepted")
	}
	var in SendInputRequest
	for _, enc := range []string{"aGk+Pw==", "aGk+Pw", "aGk-Pw=="} {
		if err := json.Unmarshal([]byte(`{"process":{"tag":"t"},"input":{"stdin":"`+enc+`"}}`), &in); err != nil {
			t.Fatalf("%s: %v", enc, err)
		}
		if string(*in.Input.Stdin) != "hi>?" || *in.Process.Tag != "t" {
			t.Fatalf("%s decoded to %q", enc, *in.Input.Stdin)
		}
	}
	var w WatchRequest
	if err := json.Unmarshal([]byte(`{"path":"/p","recursive":true,"include_entry":true,"allow_network_mounts":true}`), &w); err != nil {
		t.Fatal(err)
	}
	if !w.Recursive || !w.IncludeEntry || !w.AllowNetworkMounts || w.Path != "/p" {
		t.Fatalf("snake_case watch = %+v", w)
	}
	var wr WatcherRequest
	if err := json.Unmarshal([]byte(`{"watcher_id":"abc"}`), &wr); err != nil || wr.WatcherID != "abc" {
		t.Fatalf("watcher_id = %+v %v", wr, err)
	}
	if err := json.Unmarshal([]byte(`{"watcherId":"def"}`), &wr); err != nil || wr.WatcherID != "def" {
		t.Fatalf("watcherId = %+v %v", wr, err)
	}
	var st StartRequest
	if err := json.Unmarshal([]byte(`{"process":{"cmd":"ls","envs":{"MY_VAR":"1"}},"stdin":false,"pty":{"size":{"cols":80,"rows":24}}}`), &st); err != nil {
		t.Fatal(err)
	}
	if st.Stdin == nil || *st.Stdin || st.Process.Envs["MY_VAR"] != "1" || st.PTY.Size.Cols != 80 {
		t.Fatalf("start = %+v", st)
	}
	var ld ListDirRequest
	if err := json.Unmarshal([]byte(`{"path":"x","depth":-1}`), &ld); err == nil {
		t.Fatal("negative depth accepted")
	}
}
