// Command msw-call: see man/msw-call.1 or 'msw-call -h'.
package main

import (
	"os"

	"msw/internal/cli"
)

func main() {
	os.Exit(cli.Call(os.Args[1:], os.Stdin, os.Stdout, os.Stderr))
}
