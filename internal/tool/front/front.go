// Package front is the body of msw, the front door to the msw commands:
// 'msw send ARGS' runs msw-send with ARGS, 'msw help' lists the commands
// and the msw-* plugins on PATH, and 'msw completion SHELL' prints a
// shell completion script built from the commands' own options. It
// links none of the commands: it finds and runs their binaries, as git
// does, so that msw stays a small client.
package front

import (
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"

	"msw/internal/tool"
	"msw/internal/tool/catalog"
	"msw/internal/version"
)

const name = catalog.FrontDoor

// Run is the body of msw.
func Run(args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	c := tool.NewCommand(name, "", stdout, stderr)
	if len(args) == 0 {
		return writeHelp(stdout)
	}
	switch cmd := args[0]; cmd {
	case "-h", "--help", "help":
		if len(args) > 1 && cmd == "help" {
			return helpFor(c, args[1], stdin)
		}
		return writeHelp(stdout)
	case "--version":
		fmt.Fprintf(stdout, "%s %s\n", name, version.String())
		return tool.ExitOK
	case "completion":
		return completion(c, args[1:])
	}
	if strings.HasPrefix(args[0], "-") {
		return c.UsageError("unknown option %s (options go after the command: msw send -l QUEUE)", args[0])
	}
	path, err := find(args[0])
	if err != nil {
		return unknown(c, args[0])
	}
	return runTool(c, path, args[1:], stdin)
}

// toolName is the binary 'msw NAME' runs: msw-NAME.
func toolName(short string) string {
	return "msw-" + strings.TrimPrefix(short, "msw-")
}

// errNotFound is find's answer for a command that is nowhere.
var errNotFound = errors.New("not found")

// find looks for msw-NAME next to msw first, then on PATH.
func find(short string) (string, error) {
	bin := toolName(short)
	if strings.ContainsRune(short, '/') || short == "" {
		return "", errNotFound
	}
	if dir := ownDir(); dir != "" {
		if p := filepath.Join(dir, bin); isExecutable(p) {
			return p, nil
		}
	}
	p, err := exec.LookPath(bin)
	if err != nil {
		return "", errNotFound
	}
	return p, nil
}

// ownDir is the directory msw's own binary is in, or "".
func ownDir() string {
	exe, err := os.Executable()
	if err != nil {
		return ""
	}
	if resolved, err := filepath.EvalSymlinks(exe); err == nil {
		exe = resolved
	}
	return filepath.Dir(exe)
}

// isExecutable reports whether path is a regular file someone may run.
func isExecutable(path string) bool {
	fi, err := os.Stat(path)
	return err == nil && fi.Mode().IsRegular() && fi.Mode().Perm()&0o111 != 0
}

// runTool runs the command at path with args. When msw's streams are
// the process's own, msw becomes the command (exec), so that streams,
// signals and the exit status are the command's; otherwise (msw's body
// run inside another program) the command runs as a child with msw's
// streams, SIGINT and SIGTERM passed on, and its status returned.
func runTool(c *tool.Command, path string, args []string, stdin io.Reader) int {
	argv := append([]string{filepath.Base(path)}, args...)
	if stdin == os.Stdin && c.Stdout == os.Stdout && c.Stderr == os.Stderr {
		err := syscall.Exec(path, argv, os.Environ())
		return c.Failf("cannot run %s: %v", path, err)
	}
	cmd := exec.Command(path, args...)
	cmd.Args = argv
	cmd.Stdin, cmd.Stdout, cmd.Stderr = stdin, c.Stdout, c.Stderr
	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, os.Interrupt, syscall.SIGTERM)
	defer signal.Stop(sigs)
	if err := cmd.Start(); err != nil {
		return c.Failf("cannot run %s: %v", path, err)
	}
	done := make(chan struct{})
	go func() {
		for {
			select {
			case s := <-sigs:
				cmd.Process.Signal(s)
			case <-done:
				return
			}
		}
	}()
	cmd.Wait() // its status, below, says how it ended
	close(done)
	return exitStatus(cmd.ProcessState)
}

// exitStatus is a finished child's status as a shell gives it: its exit
// code, or 128 plus the signal that killed it.
func exitStatus(ps *os.ProcessState) int {
	if ps == nil {
		return tool.ExitFailure
	}
	if ws, ok := ps.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
		return 128 + int(ws.Signal())
	}
	return ps.ExitCode()
}

// helpFor runs 'msw-NAME -h'.
func helpFor(c *tool.Command, short string, stdin io.Reader) int {
	if short == "completion" {
		fmt.Fprint(c.Stdout, completionUsage)
		return tool.ExitOK
	}
	path, err := find(short)
	if err != nil {
		return unknown(c, short)
	}
	return runTool(c, path, []string{"-h"}, stdin)
}

// unknown reports a command msw cannot find, with the nearest name.
func unknown(c *tool.Command, short string) int {
	fmt.Fprintf(c.Stderr, "%s: %q is not an msw command (no %s next to msw or on PATH)\n", name, short, toolName(short))
	if near := nearest(short, commandNames()); near != "" {
		fmt.Fprintf(c.Stderr, "Did you mean 'msw %s'?\n", near)
	}
	fmt.Fprintf(c.Stderr, "Try 'msw help' for the list.\n")
	return tool.ExitUsage
}
