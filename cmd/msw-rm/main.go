// Command msw-rm: see man/msw-rm.1 or 'msw-rm -h'.
package main

import (
	"os"

	"msw/internal/tool/rm"
)

func main() {
	os.Exit(rm.Run(os.Args[1:], os.Stdin, os.Stdout, os.Stderr))
}
