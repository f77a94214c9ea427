// Command msw-ls: see man/msw-ls.1 or 'msw-ls -h'.
package main

import (
	"os"

	"msw/internal/cli"
)

func main() {
	os.Exit(cli.Ls(os.Args[1:], os.Stdin, os.Stdout, os.Stderr))
}
