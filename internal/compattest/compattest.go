// Package compattest plays the original message-switch's clients, for
// the tests of the compat listener: a connection that sends requests
// byte for byte as the OCaml client library does, and the RPC caller and
// service flows built on it (the connections, logins, reply queue,
// cursor and acks of the original's Protocol_unix client and server).
package compattest

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// Conn is one keep-alive connection to a compat listener.
type Conn struct {
	nc net.Conn
	br *bufio.Reader
}

// Dial connects to a Unix socket path, as the original's clients do.
func Dial(path string) (*Conn, error) {
	nc, err := net.Dial("unix", path)
	if err != nil {
		return nil, err
	}
	return &Conn{nc: nc, br: bufio.NewReader(nc)}, nil
}

// Close closes the connection.
func (c *Conn) Close() error { return c.nc.Close() }

// Request renders a request with the headers the OCaml client sends.
func Request(method, path string, body []byte) []byte {
	head := fmt.Sprintf("%s %s HTTP/1.1\r\nconnection: keep-alive\r\ncontent-length: %d\r\nhost: localhost\r\nuser-agent: cohttp\r\n\r\n", method, path, len(body))
	return append([]byte(head), body...)
}

// Raw writes req as it is and reads one response.
func (c *Conn) Raw(req []byte) (*http.Response, []byte, error) {
	if _, err := c.nc.Write(req); err != nil {
		return nil, nil, err
	}
	resp, err := http.ReadResponse(c.br, nil)
	if err != nil {
		return nil, nil, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	return resp, body, err
}

// Do sends one request and returns the status and body of its answer.
func (c *Conn) Do(method, path string, body []byte) (int, []byte, error) {
	resp, b, err := c.Raw(Request(method, path, body))
	if err != nil {
		return 0, nil, err
	}
	return resp.StatusCode, b, nil
}

// Ok sends one request and fails unless it is answered 200.
func (c *Conn) Ok(method, path string, body []byte) ([]byte, error) {
	status, b, err := c.Do(method, path, body)
	if err == nil && status != http.StatusOK {
		err = fmt.Errorf("%s %s: %d %s", method, path, status, b)
	}
	return b, err
}

// Message is one message of a Transfer answer.
type Message struct {
	Queue   string
	ID      int64
	Payload string
	// Request: ReplyTo; Response: ReqQueue and ReqID.
	Request  bool
	ReplyTo  string
	ReqQueue string
	ReqID    int64
}

// Transfer polls the queues above the cursor from (nil: the first
// poll), as the clients do, and returns the messages and the next cursor.
func (c *Conn) Transfer(from *int64, timeout float64, queues ...string) ([]Message, int64, error) {
	req := map[string]any{"timeout": timeout, "queues": queues}
	if from != nil {
		req["from"] = strconv.FormatInt(*from, 10)
	}
	body, _ := json.Marshal(req)
	b, err := c.Ok("POST", "/transfer", body)
	if err != nil {
		return nil, 0, err
	}
	return ParseTransfer(b)
}

// ParseTransfer decodes a Transfer answer as strictly as the clients do:
// "next" must be a string, and every message an [ID,MESSAGE] pair.
func ParseTransfer(b []byte) ([]Message, int64, error) {
	var resp struct {
		Messages [][2]json.RawMessage `json:"messages"`
		Next     *string              `json:"next"`
	}
	if err := json.Unmarshal(b, &resp); err != nil {
		return nil, 0, fmt.Errorf("transfer answer %s: %v", b, err)
	}
	if resp.Next == nil {
		return nil, 0, fmt.Errorf("transfer answer %s: no next", b)
	}
	next, err := strconv.ParseInt(*resp.Next, 10, 64)
	if err != nil {
		return nil, 0, fmt.Errorf("transfer answer %s: next: %v", b, err)
	}
	var out []Message
	for _, pair := range resp.Messages {
		var m Message
		var body struct {
			Payload string            `json:"payload"`
			Kind    []json.RawMessage `json:"kind"`
		}
		var err error
		if m.Queue, m.ID, err = pairOf(pair[0]); err != nil {
			return nil, 0, fmt.Errorf("message id: %v", err)
		}
		if err := json.Unmarshal(pair[1], &body); err != nil || len(body.Kind) != 2 {
			return nil, 0, fmt.Errorf("message %s", pair[1])
		}
		m.Payload = body.Payload
		var ctor string
		json.Unmarshal(body.Kind[0], &ctor)
		switch ctor {
		case "Request":
			m.Request = true
			json.Unmarshal(body.Kind[1], &m.ReplyTo)
		case "Response":
			if m.ReqQueue, m.ReqID, err = pairOf(body.Kind[1]); err != nil {
				return nil, 0, fmt.Errorf("response kind: %v", err)
			}
		default:
			return nil, 0, fmt.Errorf("kind %s", ctor)
		}
		out = append(out, m)
	}
	return out, next, nil
}

// pairOf decodes ["<queue>",<int64>].
func pairOf(raw json.RawMessage) (string, int64, error) {
	d := json.NewDecoder(strings.NewReader(string(raw)))
	d.UseNumber()
	var v []any
	if err := d.Decode(&v); err != nil || len(v) != 2 {
		return "", 0, fmt.Errorf("%s: want [\"<queue>\",<id>]", raw)
	}
	q, ok := v[0].(string)
	n, _ := v[1].(json.Number)
	id, err := n.Int64()
	if !ok || err != nil {
		return "", 0, fmt.Errorf("%s: want [\"<queue>\",<id>]", raw)
	}
	return q, id, nil
}

// SendID decodes a Send answer: [["<queue>",<id>]], or [] (false).
func SendID(b []byte) (int64, bool, error) {
	var v []json.RawMessage
	if err := json.Unmarshal(b, &v); err != nil || len(v) > 1 {
		return 0, false, fmt.Errorf("send answer %s: want [] or [[\"<queue>\",<id>]]", b)
	}
	if len(v) == 0 {
		return 0, false, nil
	}
	_, id, err := pairOf(v[0])
	return id, true, err
}

// Caller is the original's RPC client: a requests connection and an
// events connection, both logged in with its token, and a transient
// reply queue named after the token.
type Caller struct {
	Token       string
	Req, Events *Conn
	PollTimeout float64 // seconds per Transfer; default 30
	from        *int64
}

// ErrQueueDeleted is a Send answered [] (the original's Queue_deleted).
var ErrQueueDeleted = errors.New("queue deleted")

// NewCaller connects and sets up as the original's client does.
func NewCaller(path, token string) (*Caller, error) {
	k := &Caller{Token: token, PollTimeout: 30}
	var err error
	if k.Req, err = Dial(path); err != nil {
		return nil, err
	}
	if k.Events, err = Dial(path); err != nil {
		k.Req.Close()
		return nil, err
	}
	for _, step := range []struct {
		c    *Conn
		path string
	}{{k.Req, "/login/" + token}, {k.Events, "/login/" + token}, {k.Req, "/transient/" + token}} {
		if _, err := step.c.Ok("GET", step.path, nil); err != nil {
			k.Close()
			return nil, err
		}
	}
	return k, nil
}

// Close closes both connections.
func (k *Caller) Close() {
	k.Req.Close()
	k.Events.Close()
}

// Call sends payload as a request to dest and waits (up to limit) for its
// Response on the reply queue, acking it.
func (k *Caller) Call(dest string, payload []byte, limit time.Duration) ([]byte, error) {
	if _, err := k.Req.Ok("GET", "/persistent/"+dest, nil); err != nil {
		return nil, err
	}
	b, err := k.Req.Ok("POST", "/request/"+dest+"/"+k.Token, payload)
	if err != nil {
		return nil, err
	}
	id, ok, err := SendID(b)
	if err != nil {
		return nil, err
	}
	if !ok {
		return nil, ErrQueueDeleted
	}
	deadline := time.Now().Add(limit)
	for time.Now().Before(deadline) {
		ms, next, err := k.Events.Transfer(k.from, k.PollTimeout, k.Token)
		if err != nil {
			return nil, err
		}
		if len(ms) > 0 {
			k.from = &next
		}
		for _, m := range ms {
			if m.Request || m.ReqQueue != dest || m.ReqID != id {
				continue // a reply with no wakener: left unacked, as the original does
			}
			if _, err := k.Events.Ok("GET", fmt.Sprintf("/ack/%s/%d", m.Queue, m.ID), nil); err != nil {
				return nil, err
			}
			return []byte(m.Payload), nil
		}
	}
	return nil, fmt.Errorf("no response to (%s,%d) within %s", dest, id, limit)
}

// Serve is the original's threaded service on queue: a polling
// connection that logs in twice and a reply connection, answering each
// Request with handle(payload) and then acking it, until ctx is done
// (it then closes its connections and returns nil) or a request fails.
func Serve(ctx context.Context, path, token, queue string, pollTimeout float64, handle func([]byte) []byte) error {
	poll, err := Dial(path)
	if err != nil {
		return err
	}
	defer poll.Close()
	replies, err := Dial(path)
	if err != nil {
		return err
	}
	defer replies.Close()
	stop := context.AfterFunc(ctx, func() {
		poll.Close()
		replies.Close()
	})
	defer stop()
	for _, step := range []struct {
		c    *Conn
		path string
	}{{poll, "/login/" + token}, {replies, "/login/" + token}, {poll, "/login/" + token}, {poll, "/persistent/" + queue}} {
		if _, err := step.c.Ok("GET", step.path, nil); err != nil {
			return served(ctx, err)
		}
	}
	var from *int64
	for {
		ms, next, err := poll.Transfer(from, pollTimeout, queue)
		if err != nil {
			return served(ctx, err)
		}
		if len(ms) > 0 {
			from = &next
		}
		for _, m := range ms {
			if !m.Request {
				continue
			}
			out := handle([]byte(m.Payload))
			if _, err := replies.Ok("POST", fmt.Sprintf("/response/%s/%s/%d", m.ReplyTo, m.Queue, m.ID), out); err != nil {
				return served(ctx, err)
			}
			if _, err := replies.Ok("GET", fmt.Sprintf("/ack/%s/%d", m.Queue, m.ID), nil); err != nil {
				return served(ctx, err)
			}
		}
	}
}

// served is Serve's result for err: nil once ctx is done (the error is
// then that of the connections Serve closed).
func served(ctx context.Context, err error) error {
	if ctx.Err() != nil {
		return nil
	}
	return err
}
