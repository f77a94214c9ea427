// Command msw-pub: see man/msw-pub.1 or 'msw-pub -h'.
package main

import (
	"os"

	"msw/internal/tool/pub"
)

func main() {
	os.Exit(pub.Run(os.Args[1:], os.Stdin, os.Stdout, os.Stderr))
}
