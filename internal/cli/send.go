package cli

import "io"

// Send is the body of msw-send.
func Send(args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	c := newCommand("msw-send", "Usage: msw-send\n", stdout, stderr)
	return c.failf("not yet implemented")
}
