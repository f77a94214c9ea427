// Command msw-bind: see man/msw-bind.1 or 'msw-bind -h'.
package main

import (
	"os"

	"msw/internal/tool/bind"
)

func main() {
	os.Exit(bind.Run(os.Args[1:], os.Stdin, os.Stdout, os.Stderr))
}
