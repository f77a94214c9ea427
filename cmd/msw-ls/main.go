// Command msw-ls: see man/msw-ls.1 or 'msw-ls -h'.
package main

import (
	"os"

	"msw/internal/tool/ls"
)

func main() {
	os.Exit(ls.Run(os.Args[1:], os.Stdin, os.Stdout, os.Stderr))
}
