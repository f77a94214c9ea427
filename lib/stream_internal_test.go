package lib

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"net"
	"runtime"
	"testing"
)

// TestStreamAnswerLengthAllocatesNothingAhead: an answer's length prefix
// alone, near the limit, with the bytes never coming, breaks the stream
// without the client allocating what the prefix announced.
func TestStreamAnswerLengthAllocatesNothingAhead(t *testing.T) {
	in := binary.BigEndian.AppendUint32(nil, maxAnswer)
	in = append(in, "a few bytes, then the switch is gone"...)
	conn, peer := net.Pipe()
	defer peer.Close()
	sc := &streamConn{conn: conn, pending: map[uint64]*streamCall{}, done: make(chan struct{})}
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	sc.readLoop(bufio.NewReader(bytes.NewReader(in)))
	runtime.ReadMemStats(&after)
	if sc.err == nil {
		t.Fatal("a cut-short answer did not break the stream")
	}
	if grew := after.TotalAlloc - before.TotalAlloc; grew > 16<<20 {
		t.Fatalf("reading a cut-short answer of %d bytes allocated %d bytes", maxAnswer, grew)
	}
}
