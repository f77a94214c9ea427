// Command msw-serve: see man/msw-serve.1 or 'msw-serve -h'.
package main

import (
	"os"

	"msw/internal/cli"
)

func main() {
	os.Exit(cli.Serve(os.Args[1:], os.Stdin, os.Stdout, os.Stderr))
}
