// Command msw-call: see man/msw-call.1 or 'msw-call -h'.
package main

import (
	"os"

	"msw/internal/tool/call"
)

func main() {
	os.Exit(call.Run(os.Args[1:], os.Stdin, os.Stdout, os.Stderr))
}
