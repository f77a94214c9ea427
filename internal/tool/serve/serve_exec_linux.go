package serve

import (
	"context"
	"errors"
	"io"
	"os"
	"os/exec"
	"sync"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// On Linux msw-serve runs a program without os/exec: the program's exit
// is watched through a pidfd, and one poll(2) loop in the handler's own
// goroutine writes its standard input and reads its standard output and
// error. os/exec spends, per program, three goroutines and about thirty
// system calls around the three pipes alone (each pipe end registered
// with the runtime's poller, switched between blocking and not, and
// deregistered again), plus a goroutine to wait and one to watch the
// context; here the pipes are plain descriptors the child inherits as
// they are, and the parent's ends are only ever touched by poll, read
// and write. The behaviour is os/exec's as msw-serve used it: a pipe
// per stream, its own process group, SIGKILL to the group when the
// context ends, the pipes given up serveWaitDelay after the program
// exited or its context ended.

// servePidfd says whether this kernel gives pidfds that poll(2) watches
// (Linux 5.3 and later); without them, programs run with os/exec.
var servePidfd = sync.OnceValue(func() bool {
	fd, err := unix.PidfdOpen(os.Getpid(), 0)
	if err != nil {
		return false
	}
	defer unix.Close(fd)
	return unix.PidfdSendSignal(fd, 0, nil, 0) == nil
})

func (p *serveProgram) run(ctx context.Context, env []string, payload []byte, stderr io.Writer) runResult {
	if !servePidfd() {
		return p.runCmd(ctx, env, payload, stderr)
	}
	return p.runPoll(ctx, env, payload, stderr)
}

// servePipeBuf is what a write to an empty pipe is sure to take without
// blocking: PIPE_BUF, and a pipe holds at least a page.
const servePipeBuf = 4096

func (p *serveProgram) runPoll(ctx context.Context, env []string, payload []byte, stderr io.Writer) (r runResult) {
	if err := ctx.Err(); err != nil {
		return runResult{err: err} // as exec.Cmd.Start says
	}
	// Every descriptor is close-on-exec: the child gets its three as 0, 1
	// and 2 through dup2, nothing else leaks into it or into a program
	// another handler starts at the same time.
	var in, out, errp [2]int
	fds := []*[2]int{&in, &out, &errp}
	for i, pp := range fds {
		if err := unix.Pipe2(pp[:], unix.O_CLOEXEC); err != nil {
			for _, q := range fds[:i] {
				unix.Close(q[0])
				unix.Close(q[1])
			}
			return runResult{err: os.NewSyscallError("pipe2", err)}
		}
	}
	// The parent's ends, -1 once closed.
	stdinW, stdoutR, stderrR := in[1], out[0], errp[0]
	defer func() {
		for _, fd := range []int{stdinW, stdoutR, stderrR} {
			if fd >= 0 {
				unix.Close(fd)
			}
		}
	}()

	// A payload that fits an empty pipe is written before the program
	// starts, so the loop below never sees its standard input; a larger
	// one goes in without blocking as the program reads.
	rest := payload
	if len(rest) > servePipeBuf {
		if err := unix.SetNonblock(stdinW, true); err != nil {
			unix.Close(in[0])
			unix.Close(out[1])
			unix.Close(errp[1])
			return runResult{err: os.NewSyscallError("fcntl", err)}
		}
	}
	rest, stdinErr := serveWrite(stdinW, rest)
	if len(rest) == 0 || stdinErr != nil {
		unix.Close(stdinW)
		stdinW = -1
	}

	pidfd := -1
	attr := &syscall.ProcAttr{
		Env:   env,
		Files: []uintptr{uintptr(in[0]), uintptr(out[1]), uintptr(errp[1])},
		// The program and everything it starts form one process group,
		// killed as one on timeout or when msw-serve gives up the request.
		Sys: &syscall.SysProcAttr{Setpgid: true, PidFD: &pidfd},
	}
	pid, err := syscall.ForkExec(p.argv[0], p.argv, attr)
	unix.Close(in[0])
	unix.Close(out[1])
	unix.Close(errp[1])
	if err != nil {
		return runResult{err: &os.PathError{Op: "fork/exec", Path: p.argv[0], Err: err}}
	}
	if pidfd < 0 { // not expected once servePidfd said yes
		if pidfd, err = unix.PidfdOpen(pid, 0); err != nil {
			pidfd = -1
		}
	}
	if pidfd >= 0 {
		defer unix.Close(pidfd)
	}

	// When the context ends, the process group is killed. The program is
	// not reaped before the kill has been sent or called off, so its
	// process group id cannot have gone to another process yet.
	var (
		killMu   sync.Mutex
		killed   bool
		killErr  error
		ctxDone  time.Time
		killDone sync.WaitGroup
	)
	killDone.Add(1)
	stopKill := context.AfterFunc(ctx, func() {
		defer killDone.Done()
		killMu.Lock()
		defer killMu.Unlock()
		killed, killErr, ctxDone = true, syscall.Kill(-pid, syscall.SIGKILL), time.Now()
	})
	callOffKill := func() {
		if stopKill() {
			killDone.Done()
		}
		killDone.Wait() // the kill, if started, has been sent
	}

	var (
		outBuf    = make([]byte, 0, 512)
		errBuf    []byte
		copyErr   error
		exited    bool
		deadline  time.Time // the pipes are given up then
		waitDelay bool
		unwatched bool // the exit is not watched by poll
		pfds      [4]unix.PollFd
	)
	if pidfd < 0 {
		unwatched = true // reaped below once the pipes are done
		exited = true
	}
	for {
		n := 0
		add := func(fd int, ev int16) {
			if fd >= 0 {
				pfds[n] = unix.PollFd{Fd: int32(fd), Events: ev}
				n++
			}
		}
		add(stdoutR, unix.POLLIN)
		add(stderrR, unix.POLLIN)
		add(stdinW, unix.POLLOUT)
		pipes := n
		if !exited {
			add(pidfd, unix.POLLIN)
		}
		if n == 0 {
			break
		}
		if pipes > 0 && deadline.IsZero() {
			killMu.Lock()
			if killed {
				deadline = ctxDone.Add(serveWaitDelay)
			}
			killMu.Unlock()
		}
		var ts *unix.Timespec
		if !deadline.IsZero() && pipes > 0 {
			left := time.Until(deadline)
			if left <= 0 {
				// Something the program left holds a pipe: give it up.
				for _, fd := range []*int{&stdoutR, &stderrR, &stdinW} {
					if *fd >= 0 {
						unix.Close(*fd)
						*fd = -1
					}
				}
				waitDelay = true
				continue
			}
			t := unix.NsecToTimespec(int64(left))
			ts = &t
		}
		if _, err := unix.Ppoll(pfds[:n], ts, nil); err != nil {
			if err == unix.EINTR {
				continue
			}
			// Not expected: poll only fails for bad arguments or memory.
			// Give up the pipes and wait for the program below.
			copyErr = os.NewSyscallError("poll", err)
			for _, fd := range []*int{&stdoutR, &stderrR, &stdinW} {
				if *fd >= 0 {
					unix.Close(*fd)
					*fd = -1
				}
			}
			unwatched = true
			exited = true
			continue
		}
		for _, pf := range pfds[:n] {
			if pf.Revents == 0 {
				continue
			}
			switch int(pf.Fd) {
			case stdoutR:
				if len(outBuf) == cap(outBuf) {
					outBuf = append(outBuf, make([]byte, cap(outBuf))...)[:len(outBuf)]
				}
				m, err := serveRead(stdoutR, outBuf[len(outBuf):cap(outBuf)])
				outBuf = outBuf[:len(outBuf)+m]
				if m == 0 {
					if err != nil && copyErr == nil {
						copyErr = &os.PathError{Op: "read", Path: "|0", Err: err}
					}
					unix.Close(stdoutR)
					stdoutR = -1
				}
			case stderrR:
				if errBuf == nil {
					errBuf = make([]byte, 4096)
				}
				m, err := serveRead(stderrR, errBuf)
				if m > 0 {
					stderr.Write(errBuf[:m])
				} else {
					if err != nil && copyErr == nil {
						copyErr = &os.PathError{Op: "read", Path: "|0", Err: err}
					}
					unix.Close(stderrR)
					stderrR = -1
				}
			case stdinW:
				var err error
				if pf.Revents&unix.POLLOUT != 0 {
					rest, err = serveWrite(stdinW, rest)
				}
				// The program closed its standard input (POLLERR): what it
				// did not read is dropped, as os/exec drops it on EPIPE.
				if len(rest) == 0 || err != nil || pf.Revents&unix.POLLOUT == 0 {
					unix.Close(stdinW)
					stdinW = -1
				}
			case pidfd:
				exited = true
				if deadline.IsZero() {
					deadline = time.Now().Add(serveWaitDelay)
				}
			}
		}
	}

	if unwatched {
		// Wait for the exit without reaping, so that a kill under way
		// still reaches the process group and no other.
		for {
			var info unix.Siginfo
			if err := unix.Waitid(unix.P_PID, pid, &info, unix.WEXITED|unix.WNOWAIT, nil); err != unix.EINTR {
				break
			}
		}
	}
	callOffKill()
	var ws syscall.WaitStatus
	for {
		_, err := syscall.Wait4(pid, &ws, 0, nil)
		if err != syscall.EINTR {
			if err != nil {
				return runResult{err: os.NewSyscallError("wait", err)}
			}
			break
		}
	}
	if !ws.Exited() || ws.ExitStatus() != 0 {
		return runResult{failed: true, status: ws}
	}
	// It exited 0: what os/exec's Wait would say.
	r.out = outBuf
	if killed {
		if killErr == nil {
			r.err = ctx.Err()
		} else {
			r.err = errors.New("exec: canceling Cmd: " + killErr.Error())
		}
	}
	if r.err == nil && waitDelay {
		r.err = exec.ErrWaitDelay
	}
	if r.err == nil {
		r.err = copyErr
	}
	return r
}

// serveWrite writes what it can of b to fd; a full non-blocking pipe
// is no error. EPIPE is none either: the program did not read it all.
func serveWrite(fd int, b []byte) ([]byte, error) {
	for len(b) > 0 {
		n, err := unix.Write(fd, b)
		if n > 0 {
			b = b[n:]
		}
		switch err {
		case nil:
		case unix.EINTR:
		case unix.EAGAIN:
			return b, nil
		case unix.EPIPE:
			return nil, nil
		default:
			return b, err
		}
	}
	return b, nil
}

// serveRead reads from a pipe that poll said is readable: 0 at its end.
func serveRead(fd int, b []byte) (int, error) {
	for {
		n, err := unix.Read(fd, b)
		if err == unix.EINTR {
			continue
		}
		if n < 0 {
			n = 0
		}
		return n, err
	}
}
