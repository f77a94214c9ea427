package cli

import "io"

// Recv is the body of msw-recv.
func Recv(args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	c := newCommand("msw-recv", "Usage: msw-recv\n", stdout, stderr)
	return c.failf("not yet implemented")
}
