// Package execrun runs a program once, as msw-serve does for each
// request: the payload on its standard input, its standard output kept,
// its standard error copied out as it comes, in a process group of its
// own that is killed as one when the context ends.
//
// On Linux, Run does without os/exec (see run_linux.go); RunExec is the
// portable way, and the behaviour Run keeps to: the tests hold the two
// to identical results.
package execrun

import (
	"bytes"
	"context"
	"errors"
	"io"
	"os/exec"
	"syscall"
	"time"
)

// Result is how a run ended.
type Result struct {
	Out    []byte             // its standard output
	Failed bool               // it exited non-zero or was killed: Status says how
	Status syscall.WaitStatus //
	// Err, when not Failed, says why it did not run or finish cleanly;
	// exec.ErrWaitDelay: it exited 0 but a process it left held a pipe.
	Err error
}

// WaitDelay bounds how long a program's pipes are read after it exited
// (or its context ended): a process it left holding one must not hang
// the run.
const WaitDelay = time.Second

// RunExec runs argv[0] (a path) with os/exec: the portable way.
func RunExec(ctx context.Context, argv, env []string, payload []byte, stderr io.Writer) Result {
	cmd := exec.CommandContext(ctx, argv[0], argv[1:]...)
	cmd.Stdin = bytes.NewReader(payload)
	var out bytes.Buffer
	cmd.Stdout = &out
	cmd.Stderr = stderr
	cmd.Env = env
	// The program and everything it starts form one process group, killed
	// as one on timeout or when msw-serve gives up the request.
	cmd.SysProcAttr = procAttr(&syscall.SysProcAttr{})
	cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }
	cmd.WaitDelay = WaitDelay
	err := cmd.Run()
	if err == nil {
		return Result{Out: out.Bytes()}
	}
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		if ws, ok := ee.Sys().(syscall.WaitStatus); ok {
			return Result{Failed: true, Status: ws}
		}
	}
	return Result{Out: out.Bytes(), Err: err}
}
