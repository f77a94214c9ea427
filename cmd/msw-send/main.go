// Command msw-send: see man/msw-send.1 or 'msw-send -h'.
package main

import (
	"os"

	"msw/internal/cli"
)

func main() {
	os.Exit(cli.Send(os.Args[1:], os.Stdin, os.Stdout, os.Stderr))
}
