package tool

import (
	"fmt"
	"io"
	"os"

	"github.com/mattn/go-isatty"
)

// IsTerminal reports whether a command's stream is a terminal.
func IsTerminal(stream any) bool {
	f, ok := stream.(*os.File)
	return ok && (isatty.IsTerminal(f.Fd()) || isatty.IsCygwinTerminal(f.Fd()))
}

// NoteReadingTerminal tells the person at the terminal that the command
// waits for them to type what it reads from stdin, when stdin is a
// terminal and stderr is one too: a command run without the input it
// needs then does not look hung.
func (c *Command) NoteReadingTerminal(stdin io.Reader, what string) {
	if IsTerminal(stdin) && IsTerminal(c.Stderr) {
		fmt.Fprintf(c.Stderr, "%s: reading %s from the terminal; end with Ctrl-D\n", c.Name, what)
	}
}
