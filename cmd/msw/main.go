// Command msw: see man/msw.1 or 'msw help'.
package main

import (
	"os"

	"msw/internal/tool/front"
)

func main() {
	os.Exit(front.Run(os.Args[1:], os.Stdin, os.Stdout, os.Stderr))
}
