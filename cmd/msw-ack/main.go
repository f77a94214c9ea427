// Command msw-ack: see man/msw-ack.1 or 'msw-ack -h'.
package main

import (
	"os"

	"msw/internal/tool/ack"
)

func main() {
	os.Exit(ack.Run(os.Args[1:], os.Stdin, os.Stdout, os.Stderr))
}
