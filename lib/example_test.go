package lib_test

import (
	"bytes"
	"context"
	"errors"
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

// Queues are made, listed and destroyed by name; a closed client says so
// with ErrClosed.
func Example_queues() {
	srv := server.New(broker.New(broker.Options{}), server.Options{})
	l, err := server.Listen("127.0.0.1:0", 0o600)
	if err != nil {
		log.Fatal(err)
	}
	go srv.Serve(l)
	defer srv.Shutdown(context.Background())

	ctx := context.Background()
	c, err := lib.New(lib.Options{Addr: l.Addr().String()})
	if err != nil {
		log.Fatal(err)
	}
	for _, q := range []string{"jobs.mail", "jobs.print", "logs"} {
		if err := c.CreateQueue(ctx, q); err != nil {
			log.Fatal(err)
		}
	}
	if _, err := c.Send(ctx, "jobs.mail", lib.Message{Payload: []byte("to: ops")}); err != nil {
		log.Fatal(err)
	}

	qs, err := c.List(ctx, lib.ListOptions{Prefix: "jobs.", All: true})
	if err != nil {
		log.Fatal(err)
	}
	for _, q := range qs {
		fmt.Printf("%s holds %d\n", q.Name, q.Depth)
	}

	// IfEmpty refuses to destroy a queue that still holds messages.
	err = c.DestroyQueue(ctx, "jobs.mail", lib.DestroyOptions{IfEmpty: true})
	fmt.Println("not empty:", lib.IsCode(err, lib.CodeQueueNotEmpty))
	fmt.Println("destroyed:", c.DestroyQueue(ctx, "jobs.mail", lib.DestroyOptions{}) == nil)

	c.Close()
	_, err = c.Send(ctx, "logs", lib.Message{Payload: []byte("late")})
	fmt.Println("after Close:", errors.Is(err, lib.ErrClosed))
	// Output:
	// jobs.mail holds 1
	// jobs.print holds 0
	// not empty: true
	// destroyed: true
	// after Close: true
}

// Publishing to a topic reaches every queue bound to a matching pattern:
// `*` stands for one token, `>` for the rest.
func Example_publish() {
	srv := server.New(broker.New(broker.Options{}), server.Options{})
	l, err := server.Listen("127.0.0.1:0", 0o600)
	if err != nil {
		log.Fatal(err)
	}
	go srv.Serve(l)
	defer srv.Shutdown(context.Background())

	ctx := context.Background()
	c, err := lib.New(lib.Options{Addr: l.Addr().String()})
	if err != nil {
		log.Fatal(err)
	}
	defer c.Close()
	for q, pattern := range map[string]string{"all-news": "news.>", "uk": "*.*.uk"} {
		if err := c.CreateQueue(ctx, q); err != nil {
			log.Fatal(err)
		}
		if err := c.Bind(ctx, q, pattern); err != nil {
			log.Fatal(err)
		}
	}

	for _, topic := range []string{"news.sports.uk", "news.weather", "sports.uk"} {
		n, err := c.Publish(ctx, topic, lib.Message{Payload: []byte("about " + topic)})
		if err != nil {
			log.Fatal(err)
		}
		fmt.Printf("%s reached %d queues\n", topic, n)
	}
	for _, q := range []string{"all-news", "uk"} {
		ds, err := c.Peek(ctx, q, 10)
		if err != nil {
			log.Fatal(err)
		}
		for _, d := range ds {
			fmt.Printf("%s: %s (published to %s)\n", q, d.Payload, d.Topic)
		}
	}
	_, err = c.Publish(ctx, "news..uk", lib.Message{})
	fmt.Println("bad topic:", lib.IsCode(err, lib.CodeBadTopic))
	// Output:
	// news.sports.uk reached 2 queues
	// news.weather reached 1 queues
	// sports.uk reached 0 queues
	// all-news: about news.sports.uk (published to news.sports.uk)
	// all-news: about news.weather (published to news.weather)
	// uk: about news.sports.uk (published to news.sports.uk)
	// bad topic: true
}
