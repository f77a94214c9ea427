// Command msw-ack: see man/msw-ack.1 or 'msw-ack -h'.
package main

import (
	"os"

	"msw/internal/cli"
)

func main() {
	os.Exit(cli.Ack(os.Args[1:], os.Stdin, os.Stdout, os.Stderr))
}
