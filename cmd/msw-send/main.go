// Command msw-send: see man/msw-send.1 or 'msw-send -h'.
package main

import (
	"os"

	"msw/internal/tool/send"
)

func main() {
	os.Exit(send.Run(os.Args[1:], os.Stdin, os.Stdout, os.Stderr))
}
