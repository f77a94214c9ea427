package cli

import "io"

// Call is the body of msw-call.
func Call(args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	c := newCommand("msw-call", "Usage: msw-call\n", stdout, stderr)
	return c.failf("not yet implemented")
}
