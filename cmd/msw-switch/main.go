// Command msw-switch: see man/msw-switch.1 or 'msw-switch -h'.
package main

import (
	"os"

	"msw/internal/cli"
)

func main() {
	os.Exit(cli.Switch(os.Args[1:], os.Stdin, os.Stdout, os.Stderr))
}
