// Command msw-diag: see man/msw-diag.1 or 'msw-diag -h'.
package main

import (
	"os"

	"msw/internal/tool/diag"
)

func main() {
	os.Exit(diag.Run(os.Args[1:], os.Stdin, os.Stdout, os.Stderr))
}
