package execrun

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

// On Linux a program runs without os/exec: its exit is watched through a
// pidfd, and one poll(2) loop in the caller's own goroutine writes its
// standard input and reads its standard output and error. os/exec
// spends, per program, three goroutines and about thirty system calls
// around the three pipes alone (each pipe end registered with the
// runtime's poller, switched between blocking and not, and deregistered
// again), plus a goroutine to wait and one to watch the context; here
// the pipes are plain descriptors the child inherits as they are, and
// the parent's ends are only ever touched by poll, read and write. The
// behaviour is RunExec's: a pipe per stream, its own process group,
// SIGKILL to the group when the context ends, the pipes given up
// WaitDelay after the program exited or its context ended.
//
// A run has three steps: start (pipes, the payload's first part, fork
// and exec), pump (the poll loop, until the pipes are done and the
// program has exited) and reap (wait for it and say how it ended).

// havePidfd says whether this kernel gives pidfds that poll(2) watches
// (Linux 5.3 and later); without them, programs run with os/exec.
var havePidfd = sync.OnceValue(func() bool {
	fd, err := unix.PidfdOpen(os.Getpid(), 0)
	if err != nil {
		return false
	}
	defer unix.Close(fd)
	return unix.PidfdSendSignal(fd, 0, nil, 0) == nil
})

// Run runs argv[0] (a path) with env, payload on its standard input and
// its standard error copied to stderr, until it exits or ctx ends.
func Run(ctx context.Context, argv, env []string, payload []byte, stderr io.Writer) Result {
	if !havePidfd() {
		return RunExec(ctx, argv, env, payload, stderr)
	}
	return runPoll(ctx, argv, env, payload, stderr)
}

// runPoll is Run without os/exec.
func runPoll(ctx context.Context, argv, env []string, payload []byte, stderr io.Writer) Result {
	if err := ctx.Err(); err != nil {
		return Result{Err: err} // as exec.Cmd.Start says
	}
	p, err := start(argv, env, payload)
	if err != nil {
		return Result{Err: err}
	}
	defer p.close()
	p.kill.arm(ctx, p.pid)
	p.pump(stderr)
	return p.reap(ctx)
}

// pipeBuf is what a write to an empty pipe is sure to take without
// blocking: PIPE_BUF, and a pipe holds at least a page.
const pipeBuf = 4096

// proc is a program started by start, and what its run has seen.
type proc struct {
	pid   int
	pidfd int // -1 if there is none
	// The parent's ends of the pipes, -1 once closed.
	stdin, stdout, stderr int
	rest                  []byte // of the payload, not written yet

	kill groupKill

	out       []byte
	errBuf    []byte
	copyErr   error     // reading a pipe failed
	exited    bool      // the exit was seen, or is not watched
	unwatched bool      // the exit is not watched by poll: reap waits for it
	deadline  time.Time // the pipes are given up then
	waitDelay bool      // they were
	pfds      [4]unix.PollFd
}

// start makes the pipes, writes what of the payload an empty pipe takes,
// and starts the program in a process group of its own.
func start(argv, env []string, payload []byte) (*proc, error) {
	// Every descriptor is close-on-exec: the child gets its three as 0, 1
	// and 2 through dup2, nothing else leaks into it or into a program
	// another run starts at the same time.
	var in, out, errp [2]int
	fds := []*[2]int{&in, &out, &errp}
	for i, pp := range fds {
		if err := unix.Pipe2(pp[:], unix.O_CLOEXEC); err != nil {
			for _, q := range fds[:i] {
				unix.Close(q[0])
				unix.Close(q[1])
			}
			return nil, os.NewSyscallError("pipe2", err)
		}
	}
	p := &proc{pidfd: -1, stdin: in[1], stdout: out[0], stderr: errp[0], rest: payload, out: make([]byte, 0, 512)}
	closeChildEnds := func() {
		unix.Close(in[0])
		unix.Close(out[1])
		unix.Close(errp[1])
	}

	// A payload that fits an empty pipe is written before the program
	// starts, so the poll loop never sees its standard input; a larger
	// one goes in without blocking as the program reads.
	if len(p.rest) > pipeBuf {
		if err := unix.SetNonblock(p.stdin, true); err != nil {
			closeChildEnds()
			p.close()
			return nil, os.NewSyscallError("fcntl", err)
		}
	}
	p.writeStdin(0)

	attr := &syscall.ProcAttr{
		Env:   env,
		Files: []uintptr{uintptr(in[0]), uintptr(out[1]), uintptr(errp[1])},
		// The program and everything it starts form one process group,
		// killed as one on timeout or when msw-serve gives up the request;
		// the program is killed too when msw-serve dies (see procAttr).
		Sys: procAttr(&syscall.SysProcAttr{PidFD: &p.pidfd}),
	}
	pid, err := syscall.ForkExec(argv[0], argv, attr)
	closeChildEnds()
	if err != nil {
		p.pidfd = -1
		p.close()
		return nil, &os.PathError{Op: "fork/exec", Path: argv[0], Err: err}
	}
	p.pid = pid
	if p.pidfd < 0 { // not expected once havePidfd said yes
		if p.pidfd, err = unix.PidfdOpen(pid, 0); err != nil {
			p.pidfd = -1
		}
	}
	if p.pidfd < 0 {
		p.unwatched = true // reap waits for the exit once the pipes are done
		p.exited = true
	}
	return p, nil
}

// close closes the parent's descriptors that are still open.
func (p *proc) close() {
	p.closePipes()
	if p.pidfd >= 0 {
		unix.Close(p.pidfd)
		p.pidfd = -1
	}
}

// closePipes gives up the pipes that are still open.
func (p *proc) closePipes() {
	for _, fd := range []*int{&p.stdout, &p.stderr, &p.stdin} {
		closeFD(fd)
	}
}

func closeFD(fd *int) {
	if *fd >= 0 {
		unix.Close(*fd)
		*fd = -1
	}
}

// pump polls until the pipes are done (or given up) and the program has
// exited (or its exit is left to reap).
func (p *proc) pump(stderr io.Writer) {
	for {
		n, pipes := p.pollSet()
		if n == 0 {
			return
		}
		timeout, expired := p.pollTimeout(pipes)
		if expired {
			// Something the program left holds a pipe: give it up.
			p.closePipes()
			p.waitDelay = true
			continue
		}
		if _, err := unix.Ppoll(p.pfds[:n], timeout, nil); err != nil {
			if err == unix.EINTR {
				continue
			}
			// Not expected: poll only fails for bad arguments or memory.
			// Give up the pipes and wait for the program in reap.
			p.copyErr = os.NewSyscallError("poll", err)
			p.closePipes()
			p.unwatched = true
			p.exited = true
			continue
		}
		for _, pf := range p.pfds[:n] {
			if pf.Revents != 0 {
				p.ready(pf, stderr)
			}
		}
	}
}

// pollSet fills p.pfds with what to wait for: n entries, the first
// pipes of them pipes.
func (p *proc) pollSet() (n, pipes int) {
	add := func(fd int, ev int16) {
		if fd >= 0 {
			p.pfds[n] = unix.PollFd{Fd: int32(fd), Events: ev}
			n++
		}
	}
	add(p.stdout, unix.POLLIN)
	add(p.stderr, unix.POLLIN)
	add(p.stdin, unix.POLLOUT)
	pipes = n
	if !p.exited {
		add(p.pidfd, unix.POLLIN)
	}
	return n, pipes
}

// pollTimeout is how long poll may wait while pipes are open: for ever
// until the program exits or the context ends, then until WaitDelay
// after that; expired says that time has passed.
func (p *proc) pollTimeout(pipes int) (ts *unix.Timespec, expired bool) {
	if pipes == 0 {
		return nil, false
	}
	if p.deadline.IsZero() {
		if at, killed := p.kill.firedAt(); killed {
			p.deadline = at.Add(WaitDelay)
		}
	}
	if p.deadline.IsZero() {
		return nil, false
	}
	left := time.Until(p.deadline)
	if left <= 0 {
		return nil, true
	}
	t := unix.NsecToTimespec(int64(left))
	return &t, false
}

// ready handles what poll reported for one descriptor.
func (p *proc) ready(pf unix.PollFd, stderr io.Writer) {
	switch int(pf.Fd) {
	case p.stdout:
		p.readStdout()
	case p.stderr:
		p.copyStderr(stderr)
	case p.stdin:
		p.writeStdin(pf.Revents)
	case p.pidfd:
		p.exited = true
		if p.deadline.IsZero() {
			p.deadline = time.Now().Add(WaitDelay)
		}
	}
}

// readStdout reads what the program wrote to its standard output.
func (p *proc) readStdout() {
	if len(p.out) == cap(p.out) {
		p.out = append(p.out, make([]byte, cap(p.out))...)[:len(p.out)]
	}
	m, err := readFD(p.stdout, p.out[len(p.out):cap(p.out)])
	p.out = p.out[:len(p.out)+m]
	if m == 0 {
		p.pipeDone(&p.stdout, err)
	}
}

// copyStderr copies what the program wrote to its standard error.
func (p *proc) copyStderr(w io.Writer) {
	if p.errBuf == nil {
		p.errBuf = make([]byte, 4096)
	}
	m, err := readFD(p.stderr, p.errBuf)
	if m > 0 {
		w.Write(p.errBuf[:m])
		return
	}
	p.pipeDone(&p.stderr, err)
}

// pipeDone closes a pipe read to its end, keeping the first read error.
func (p *proc) pipeDone(fd *int, err error) {
	if err != nil && p.copyErr == nil {
		p.copyErr = &os.PathError{Op: "read", Path: "|0", Err: err}
	}
	closeFD(fd)
}

// writeStdin writes what the pipe takes of the rest of the payload, and
// closes the pipe once it is all written, on an error, or when poll says
// the program closed its end (revents without POLLOUT). Before the
// program starts, revents is 0.
func (p *proc) writeStdin(revents int16) {
	var err error
	if revents == 0 || revents&unix.POLLOUT != 0 {
		p.rest, err = writeFD(p.stdin, p.rest)
	}
	// The program closed its standard input (POLLERR): what it did not
	// read is dropped, as os/exec drops it on EPIPE.
	if len(p.rest) == 0 || err != nil || (revents != 0 && revents&unix.POLLOUT == 0) {
		closeFD(&p.stdin)
	}
}

// reap waits for the program and says how the run ended, as os/exec's
// Wait would.
func (p *proc) reap(ctx context.Context) Result {
	if p.unwatched {
		// Wait for the exit without reaping, so that a kill under way
		// still reaches the process group and no other.
		for {
			var info unix.Siginfo
			if err := unix.Waitid(unix.P_PID, p.pid, &info, unix.WEXITED|unix.WNOWAIT, nil); err != unix.EINTR {
				break
			}
		}
	}
	killed, killErr := p.kill.disarm()
	var ws syscall.WaitStatus
	for {
		_, err := syscall.Wait4(p.pid, &ws, 0, nil)
		if err == nil {
			break
		}
		if err != syscall.EINTR {
			return Result{Err: os.NewSyscallError("wait", err)}
		}
	}
	if !ws.Exited() || ws.ExitStatus() != 0 {
		return Result{Failed: true, Status: ws}
	}
	// It exited 0.
	r := Result{Out: p.out}
	switch {
	case killed && killErr == nil:
		r.Err = ctx.Err()
	case killed:
		r.Err = errors.New("exec: canceling Cmd: " + killErr.Error())
	case p.waitDelay:
		r.Err = exec.ErrWaitDelay
	default:
		r.Err = p.copyErr
	}
	return r
}

// groupKill kills a program's process group when a context ends. The
// program is not reaped before the kill has been sent or called off
// (disarm), so its process group id cannot have gone to another process
// yet.
type groupKill struct {
	mu     sync.Mutex
	killed bool
	err    error     // of the kill
	at     time.Time // when the context ended
	done   sync.WaitGroup
	stop   func() bool
}

// arm kills the process group pid leads when ctx ends.
func (k *groupKill) arm(ctx context.Context, pid int) {
	k.done.Add(1)
	k.stop = context.AfterFunc(ctx, func() {
		defer k.done.Done()
		k.mu.Lock()
		defer k.mu.Unlock()
		k.killed, k.err, k.at = true, syscall.Kill(-pid, syscall.SIGKILL), time.Now()
	})
}

// firedAt says whether the kill was sent, and when.
func (k *groupKill) firedAt() (time.Time, bool) {
	k.mu.Lock()
	defer k.mu.Unlock()
	return k.at, k.killed
}

// disarm calls the kill off, or waits until it has been sent, and says
// whether it was and how it went.
func (k *groupKill) disarm() (killed bool, err error) {
	if k.stop() {
		k.done.Done()
	}
	k.done.Wait()
	return k.killed, k.err
}

// writeFD writes what it can of b to fd; a full non-blocking pipe is no
// error. EPIPE is none either: the program did not read it all.
func writeFD(fd int, b []byte) ([]byte, error) {
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

// readFD reads from a pipe that poll said is readable: 0 at its end.
func readFD(fd int, b []byte) (int, error) {
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
