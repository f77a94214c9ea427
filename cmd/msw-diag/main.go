// Command msw-diag: see man/msw-diag.1 or 'msw-diag -h'.
package main

import (
	"os"

	"msw/internal/cli"
)

func main() {
	os.Exit(cli.Diag(os.Args[1:], os.Stdin, os.Stdout, os.Stderr))
}
