package server

import (
	"bufio"
	"io"
	"net"
	"testing"

	"msw/internal/testutil"
)

// A stream's reader sees what its client has sent beyond the reader's
// buffer: a large frame (a batch) is read straight from the connection,
// past the buffer, so what follows it is still in the socket, and a
// durable send read then goes to the committer (moreArrived). Through
// the counting wrapper every accepted connection has. After a frame that
// fitted the buffer the socket is not asked: the read that filled the
// buffer emptied it.
func TestMoreArrivedAsksTheSocket(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	c, err := net.Dial("tcp", l.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	a, err := l.Accept()
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	conn := &countedConn{Conn: a, s: &Server{}}
	st := &stream{conn: conn, br: bufio.NewReaderSize(conn, 4096), raw: rawConn(conn)}
	if st.raw == nil {
		t.Fatal("no socket found behind a TCP connection")
	}
	if st.moreArrived() {
		t.Fatal("more arrived before the client sent anything")
	}
	go c.Write(make([]byte, 256<<10))
	st.bigFrame = true
	if _, err := io.ReadFull(st.br, make([]byte, 256<<10)); err != nil {
		t.Fatal(err)
	}
	if st.moreArrived() {
		t.Fatal("more arrived after the client's only frame was read")
	}
	if _, err := c.Write([]byte{1}); err != nil {
		t.Fatal(err)
	}
	testutil.Eventually(t, "a byte in the socket seen", st.moreArrived)
	if n := st.br.Buffered(); n != 0 {
		t.Fatalf("%d bytes buffered: the socket was not what was asked", n)
	}
	if _, err := st.br.ReadByte(); err != nil {
		t.Fatal(err)
	}
	if st.moreArrived() {
		t.Fatal("more arrived after everything was read")
	}

	if _, err := c.Write([]byte{2}); err != nil {
		t.Fatal(err)
	}
	testutil.Eventually(t, "a second byte in the socket seen", st.moreArrived)
	st.bigFrame = false
	if st.moreArrived() {
		t.Fatal("the socket was asked after a frame that fitted the buffer")
	}
}
