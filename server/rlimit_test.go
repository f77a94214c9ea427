package server_test

import "syscall"

// setFileLimit raises the soft open-file limit to n, or as far as the
// hard limit allows (raising that too where permitted), and returns it.
func setFileLimit(n uint64) uint64 {
	var rl syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &rl); err != nil {
		return 0
	}
	if rl.Cur >= n {
		return rl.Cur
	}
	want := rl
	want.Cur, want.Max = n, max(n, rl.Max)
	if syscall.Setrlimit(syscall.RLIMIT_NOFILE, &want) == nil {
		return n
	}
	rl.Cur = min(n, rl.Max)
	syscall.Setrlimit(syscall.RLIMIT_NOFILE, &rl)
	syscall.Getrlimit(syscall.RLIMIT_NOFILE, &rl)
	return rl.Cur
}
