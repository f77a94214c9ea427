// Command msw-recv: see man/msw-recv.1 or 'msw-recv -h'.
package main

import (
	"os"

	"msw/internal/tool/recv"
)

func main() {
	os.Exit(recv.Run(os.Args[1:], os.Stdin, os.Stdout, os.Stderr))
}
