// Command msw-switch: see man/msw-switch.1 or 'msw-switch -h'.
package main

import (
	"os"

	"msw/internal/tool/switchd"
)

func main() {
	os.Exit(switchd.Run(os.Args[1:], os.Stdin, os.Stdout, os.Stderr))
}
