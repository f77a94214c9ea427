// Package unbind is the body of msw-unbind: remove bindings of a queue
// to topic patterns. It shares its body with msw-bind.
package unbind

import (
	"io"

	"msw/internal/tool/bind"
)

// Run is the body of msw-unbind.
func Run(args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	return bind.RunUnbind(args, stdin, stdout, stderr)
}
