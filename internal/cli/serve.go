package cli

import "io"

// Serve is the body of msw-serve.
func Serve(args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	c := newCommand("msw-serve", "Usage: msw-serve\n", stdout, stderr)
	return c.failf("not yet implemented")
}
