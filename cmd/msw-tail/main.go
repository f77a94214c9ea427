// Command msw-tail: see man/msw-tail.1 or 'msw-tail -h'.
package main

import (
	"os"

	"msw/internal/cli"
)

func main() {
	os.Exit(cli.Tail(os.Args[1:], os.Stdin, os.Stdout, os.Stderr))
}
