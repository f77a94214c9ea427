package lib_test

import (
	"bytes"
	"context"
	"fmt"
	"log"

	"msw/broker"
	"msw/lib"
	"msw/server"
)

// A service answers requests on a named queue; callers send a request and
// wait for its reply. Here both run in one program, against a switch
// started in process on a free port.
func Example() {
	// A switch, as msw-switch runs one.
	srv := server.New(broker.New(broker.Options{}), server.Options{})
	l, err := server.Listen("127.0.0.1:0", 0o600)
	if err != nil {
		log.Fatal(err)
	}
	go srv.Serve(l)
	defer srv.Shutdown(context.Background())

	c, err := lib.New(lib.Options{Addr: l.Addr().String()})
	if err != nil {
		log.Fatal(err)
	}
	defer c.Close()

	// The service: upper-case whatever comes in, four requests at a time,
	// until ctx is cancelled.
	ctx, stop := context.WithCancel(context.Background())
	served := make(chan error)
	go func() {
		served <- c.Serve(ctx, "upper-case", lib.ServeOptions{Concurrency: 4},
			func(ctx context.Context, req *lib.Request) ([]byte, error) {
				return bytes.ToUpper(req.Payload), nil
			})
	}()

	// A call blocks until a server replies.
	reply, err := c.Call(context.Background(), "upper-case", []byte("hello, switch"))
	if err != nil {
		log.Fatal(err)
	}
	fmt.Printf("%s\n", reply)

	stop()
	fmt.Println("serve returned:", <-served)
	// Output:
	// HELLO, SWITCH
	// serve returned: <nil>
}
