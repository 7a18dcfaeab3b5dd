// burrow-capture runs on the host while a sandbox is held still for a checkpoint: it walks the
// sandbox's overlay upper dir (fd-relative, following no link the sandbox made) and copies the
// files that changed since the previous checkpoint into the checkpoint's stage, with far fewer
// costs than the server doing the same system calls one by one.
//
//	burrow-capture UPPER STAGE KNOWN
//
// KNOWN is a JSON file of [path, size, mtimeNs, ctimeNs, ino] for files whose contents the
// previous checkpoint holds ("-" for none). The tool opens UPPER and loads KNOWN, prints
// "ready", waits for a line on stdin (the sandbox is frozen by then), then writes files.dat and
// files.json into STAGE and prints the entries as one JSON array. Exit status 1 on failure,
// with the reason on stderr.
package main

import (
	"bufio"
	"encoding/json"
	"fmt"
	"os"
	"syscall"

	"burrow/agent/internal/layerscan"
)

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "burrow-capture:", err)
		os.Exit(1)
	}
}

func run() error {
	if len(os.Args) != 4 {
		return fmt.Errorf("usage: burrow-capture UPPER STAGE KNOWN")
	}
	upper, stageDir, knownFile := os.Args[1], os.Args[2], os.Args[3]
	root, err := syscall.Open(upper, syscall.O_RDONLY|syscall.O_DIRECTORY|syscall.O_NOFOLLOW|syscall.O_CLOEXEC, 0)
	if err != nil {
		return fmt.Errorf("open %s: %w", upper, err)
	}
	defer syscall.Close(root)
	known, err := loadKnown(knownFile)
	if err != nil {
		return err
	}
	stage, err := layerscan.NewStage(stageDir)
	if err != nil {
		return err
	}
	out := bufio.NewWriterSize(os.Stdout, 1<<20)
	fmt.Fprintln(out, "ready")
	if err := out.Flush(); err != nil {
		return err
	}
	if _, err := bufio.NewReader(os.Stdin).ReadString('\n'); err != nil {
		stage.Close()
		return fmt.Errorf("no go-ahead on stdin: %w", err)
	}
	entries, err := layerscan.Scan(root, known, stage.Add)
	if err != nil {
		stage.Close()
		return err
	}
	if err := stage.Finish(); err != nil {
		return err
	}
	if entries == nil {
		entries = []layerscan.Entry{}
	}
	if err := json.NewEncoder(out).Encode(entries); err != nil {
		return err
	}
	return out.Flush()
}

func loadKnown(path string) (map[string]layerscan.Known, error) {
	known := map[string]layerscan.Known{}
	if path == "-" {
		return known, nil
	}
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var rows [][5]json.RawMessage
	if err := json.Unmarshal(data, &rows); err != nil {
		return nil, fmt.Errorf("known files: %w", err)
	}
	for _, r := range rows {
		var k layerscan.Known
		var p string
		if json.Unmarshal(r[0], &p) != nil || json.Unmarshal(r[1], &k.Size) != nil ||
			json.Unmarshal(r[2], &k.MtimeNs) != nil || json.Unmarshal(r[3], &k.CtimeNs) != nil ||
			json.Unmarshal(r[4], &k.Ino) != nil {
			return nil, fmt.Errorf("known files: bad row")
		}
		known[p] = k
	}
	return known, nil
}
