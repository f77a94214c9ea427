package cli

import "io"

// Ls is the body of msw-ls.
func Ls(args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	c := newCommand("msw-ls", "Usage: msw-ls\n", stdout, stderr)
	return c.failf("not yet implemented")
}
