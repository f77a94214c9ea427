// Command msw-sub: see man/msw-sub.1 or 'msw-sub -h'.
package main

import (
	"os"

	"msw/internal/tool/sub"
)

func main() {
	os.Exit(sub.Run(os.Args[1:], os.Stdin, os.Stdout, os.Stderr))
}
