// Command msw-recv: see man/msw-recv.1 or 'msw-recv -h'.
package main

import (
	"os"

	"msw/internal/cli"
)

func main() {
	os.Exit(cli.Recv(os.Args[1:], os.Stdin, os.Stdout, os.Stderr))
}
