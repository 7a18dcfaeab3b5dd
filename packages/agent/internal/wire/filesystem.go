package wire

// Messages of package filesystem (service filesystem.Filesystem).

// FileType is the filesystem.FileType enum.
type FileType int32

// Values of filesystem.FileType.
const (
	FileTypeUnspecified FileType = 0
	FileTypeFile        FileType = 1
	FileTypeDirectory   FileType = 2
	FileTypeSymlink     FileType = 3
)

var fileTypeNames = map[int32]string{
	0: "FILE_TYPE_UNSPECIFIED", 1: "FILE_TYPE_FILE", 2: "FILE_TYPE_DIRECTORY", 3: "FILE_TYPE_SYMLINK",
}

// MarshalJSON writes the enum name.
func (t FileType) MarshalJSON() ([]byte, error) { return enumName(int32(t), fileTypeNames) }

// EventType is the filesystem.EventType enum.
type EventType int32

// Values of filesystem.EventType.
const (
	EventCreate EventType = 1
	EventWrite  EventType = 2
	EventRemove EventType = 3
	EventRename EventType = 4
	EventChmod  EventType = 5
)

var eventTypeNames = map[int32]string{
	0: "EVENT_TYPE_UNSPECIFIED", 1: "EVENT_TYPE_CREATE", 2: "EVENT_TYPE_WRITE",
	3: "EVENT_TYPE_REMOVE", 4: "EVENT_TYPE_RENAME", 5: "EVENT_TYPE_CHMOD",
}

// MarshalJSON writes the enum name.
func (t EventType) MarshalJSON() ([]byte, error) { return enumName(int32(t), eventTypeNames) }

// EntryInfo describes a file, directory or symlink. Mode holds the permission
// bits only; Permissions is the ls-style string of the full mode.
type EntryInfo struct {
	Name          string            `json:"name,omitempty"`
	Type          FileType          `json:"type,omitempty"`
	Path          string            `json:"path,omitempty"`
	Size          int64             `json:"size,string,omitempty"`
	Mode          uint32            `json:"mode,omitempty"`
	Permissions   string            `json:"permissions,omitempty"`
	Owner         string            `json:"owner,omitempty"`
	Group         string            `json:"group,omitempty"`
	ModifiedTime  *Timestamp        `json:"modifiedTime,omitempty"`
	SymlinkTarget *string           `json:"symlinkTarget,omitempty"`
	Metadata      map[string]string `json:"metadata,omitempty"`
}

// PathRequest is StatRequest, MakeDirRequest and RemoveRequest.
type PathRequest struct {
	Path string `json:"path"`
}

// EntryResponse is StatResponse, MakeDirResponse and MoveResponse.
type EntryResponse struct {
	Entry *EntryInfo `json:"entry,omitempty"`
}

// MoveRequest renames source to destination.
type MoveRequest struct {
	Source      string `json:"source"`
	Destination string `json:"destination"`
}

// ListDirRequest lists path down to depth levels (0 means 1).
type ListDirRequest struct {
	Path  string `json:"path"`
	Depth U32    `json:"depth"`
}

// ListDirResponse holds the entries found.
type ListDirResponse struct {
	Entries []*EntryInfo `json:"entries,omitempty"`
}

// WatchRequest is WatchDirRequest and CreateWatcherRequest.
type WatchRequest struct {
	Path               string `json:"path"`
	Recursive          bool   `json:"recursive"`
	IncludeEntry       bool   `json:"includeEntry"`
	AllowNetworkMounts bool   `json:"allowNetworkMounts"`
}

// UnmarshalJSON also accepts include_entry and allow_network_mounts.
func (r *WatchRequest) UnmarshalJSON(data []byte) error {
	type plain WatchRequest
	return snakeOrCamel(data, map[string]string{
		"include_entry": "includeEntry", "allow_network_mounts": "allowNetworkMounts",
	}, (*plain)(r))
}

// FilesystemEvent is one change seen by a watcher; Name is relative to the
// watched directory.
type FilesystemEvent struct {
	Name  string     `json:"name,omitempty"`
	Type  EventType  `json:"type,omitempty"`
	Entry *EntryInfo `json:"entry,omitempty"`
}

// WatchDirResponse is one event of a WatchDir stream (a oneof).
type WatchDirResponse struct {
	Start      *Empty           `json:"start,omitempty"`
	Filesystem *FilesystemEvent `json:"filesystem,omitempty"`
	Keepalive  *Empty           `json:"keepalive,omitempty"`
}

// WatcherRequest is GetWatcherEventsRequest and RemoveWatcherRequest.
type WatcherRequest struct {
	WatcherID string `json:"watcherId"`
}

// UnmarshalJSON also accepts watcher_id.
func (r *WatcherRequest) UnmarshalJSON(data []byte) error {
	type plain WatcherRequest
	return snakeOrCamel(data, map[string]string{"watcher_id": "watcherId"}, (*plain)(r))
}

// CreateWatcherResponse names the new watcher.
type CreateWatcherResponse struct {
	WatcherID string `json:"watcherId,omitempty"`
}

// GetWatcherEventsResponse returns the events gathered since the last call.
type GetWatcherEventsResponse struct {
	Events []FilesystemEvent `json:"events,omitempty"`
}
