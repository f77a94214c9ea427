// Command msw-mkq: see man/msw-mkq.1 or 'msw-mkq -h'.
package main

import (
	"os"

	"msw/internal/tool/mkq"
)

func main() {
	os.Exit(mkq.Run(os.Args[1:], os.Stdin, os.Stdout, os.Stderr))
}
