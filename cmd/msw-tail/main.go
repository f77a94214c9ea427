// Command msw-tail: see man/msw-tail.1 or 'msw-tail -h'.
package main

import (
	"os"

	"msw/internal/tool/tail"
)

func main() {
	os.Exit(tail.Run(os.Args[1:], os.Stdin, os.Stdout, os.Stderr))
}
