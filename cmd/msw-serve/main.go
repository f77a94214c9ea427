// Command msw-serve: see man/msw-serve.1 or 'msw-serve -h'.
package main

import (
	"os"

	"msw/internal/tool/serve"
)

func main() {
	os.Exit(serve.Run(os.Args[1:], os.Stdin, os.Stdout, os.Stderr))
}
