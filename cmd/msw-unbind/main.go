// Command msw-unbind: see man/msw-unbind.1 or 'msw-unbind -h'.
package main

import (
	"os"

	"msw/internal/tool/unbind"
)

func main() {
	os.Exit(unbind.Run(os.Args[1:], os.Stdin, os.Stdout, os.Stderr))
}
