package users

import (
	"fmt"
	"path/filepath"
	"strings"
)

// ResolvePath turns a request path into an absolute, cleaned path for u:
// "" means workdir (or the home directory when workdir is empty), "~" and
// "~/x" expand to the home directory, and other relative paths are taken
// relative to the home directory. "~name" is rejected.
func ResolvePath(path string, u *User, workdir string) (string, error) {
	if path == "" {
		path = workdir
		if path == "" {
			path = u.Home
		}
	}
	if strings.HasPrefix(path, "~") {
		if len(path) > 1 && path[1] != '/' {
			return "", fmt.Errorf("path %q: only ~ and ~/… can be expanded (the user is selected by the request, not the path)", path)
		}
		path = filepath.Join(u.Home, path[1:])
	}
	if !filepath.IsAbs(path) {
		home := u.Home
		if home == "" {
			home = "/"
		}
		path = filepath.Join(home, path)
	}
	return filepath.Clean(path), nil
}
