// Command msw-rm: see man/msw-rm.1 or 'msw-rm -h'.
package main

import (
	"os"

	"msw/internal/cli"
)

func main() {
	os.Exit(cli.Rm(os.Args[1:], os.Stdin, os.Stdout, os.Stderr))
}
