package wire

import (
	"bytes"
	"encoding/binary"
	"errors"
	"io"
	"strings"
	"testing"
)

// requestFrame is r's whole frame with body, length prefix included.
func requestFrame(r *StreamRequest, body []byte) []byte {
	return append(AppendStreamRequest(nil, r, len(body)), body...)
}

// prefixed checks a frame's length prefix and returns what follows it.
func prefixed(t testing.TB, f []byte) []byte {
	t.Helper()
	if len(f) < 4 {
		t.Fatalf("frame of %d bytes: no length prefix", len(f))
	}
	if n := binary.BigEndian.Uint32(f); int(n) != len(f)-4 {
		t.Fatalf("length prefix %d; the frame has %d bytes after it", n, len(f)-4)
	}
	return f[4:]
}

func TestStreamRequestRoundTrip(t *testing.T) {
	for _, want := range []StreamRequest{
		{Op: StreamSend, ID: 1, Queue: "jobs", Body: AppendSendFrame(nil, &Message{Payload: []byte("x")})},
		{Op: StreamTransfer, ID: 1 << 40, Body: []byte(`{"timeout_ms":5000}`)},
		{Op: StreamWithdraw, ID: 3, Queue: "q", Arg: 1<<64 - 1},
		{Op: StreamCancel, ID: 0, Arg: 7},
		{Op: StreamPing, ID: 9},
		{Op: StreamConsume, ID: 4, Arg: MaxConsumeWindow, Body: []byte{ConsumeAutoAck}},
		{Op: StreamSend, ID: 5, Queue: strings.Repeat("n", MaxNameLen)},
		{Op: StreamReply, Quiet: true, ID: 6, Queue: "r", Arg: 2, Body: []byte("x")},
		{Op: StreamAck, Quiet: true, ID: 1 << 20},
	} {
		f := prefixed(t, requestFrame(&want, want.Body))
		if len(f)-len(want.Body) > MaxStreamHead {
			t.Errorf("%v head of %d bytes; MaxStreamHead %d", want.Op, len(f)-len(want.Body), MaxStreamHead)
		}
		var got StreamRequest
		if err := ParseStreamRequest(f, &got); err != nil {
			t.Fatalf("ParseStreamRequest(%v): %v", want.Op, err)
		}
		if got.Op != want.Op || got.Quiet != want.Quiet || got.ID != want.ID || got.Queue != want.Queue || got.Arg != want.Arg || !bytes.Equal(got.Body, want.Body) {
			t.Errorf("round trip = %+v; want %+v", got, want)
		}
		op, id, ok := ParseStreamID(f)
		if !ok || op != want.Op || id != want.ID {
			t.Errorf("ParseStreamID = %v, %d, %v; want %v, %d", op, id, ok, want.Op, want.ID)
		}
	}
}

func TestParseStreamRequestRefuses(t *testing.T) {
	long := AppendStreamRequest(nil, &StreamRequest{Op: StreamSend, Queue: strings.Repeat("n", MaxNameLen+1)}, 0)
	for _, tc := range []struct {
		name  string
		frame []byte
		want  string
	}{
		{"empty", nil, "empty stream frame"},
		{"no request id", []byte{byte(StreamPing)}, "bad request id"},
		{"request id cut short", []byte{byte(StreamPing), 0x80}, "bad request id"},
		{"no queue", []byte{byte(StreamPing), 1}, "bad queue"},
		{"queue longer than the frame", []byte{byte(StreamSend), 1, 5, 'a', 'b'}, "bad queue"},
		{"queue over MaxNameLen", long[4:], "bad queue"},
		{"no argument", []byte{byte(StreamPing), 1, 0}, "bad argument"},
		{"varint overflow", append([]byte{byte(StreamPing)}, bytes.Repeat([]byte{0xff}, 11)...), "bad request id"},
	} {
		var r StreamRequest
		err := ParseStreamRequest(tc.frame, &r)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: ParseStreamRequest = %v; want an error with %q", tc.name, err, tc.want)
		}
	}
}

func TestParseStreamID(t *testing.T) {
	if _, _, ok := ParseStreamID(nil); ok {
		t.Error("ParseStreamID(nil): ok; want not")
	}
	if _, _, ok := ParseStreamID([]byte{byte(StreamSend), 0x80}); ok {
		t.Error("ParseStreamID of a cut-short id: ok; want not")
	}
	// Only the head matters: a refused frame is answered from its first
	// bytes.
	op, id, ok := ParseStreamID([]byte{byte(StreamSend), 0xac, 0x02, 0xff})
	if !ok || op != StreamSend || id != 300 {
		t.Errorf("ParseStreamID = %v, %d, %v; want send, 300, true", op, id, ok)
	}
}

func TestStreamAnswerRoundTrip(t *testing.T) {
	for _, tc := range []struct {
		id     uint64
		status int
		body   string
	}{
		{1, 200, "frames"},
		{0, 204, ""},
		{1<<64 - 1, 999, `{"code":"x","error":"y"}` + "\n"},
	} {
		f := prefixed(t, append(AppendStreamAnswer(nil, tc.id, tc.status, len(tc.body)), tc.body...))
		id, status, body, err := ParseStreamAnswer(f)
		if err != nil || id != tc.id || status != tc.status || string(body) != tc.body {
			t.Errorf("answer round trip = %d %d %q %v; want %d %d %q", id, status, body, err, tc.id, tc.status, tc.body)
		}
	}
}

func TestParseStreamAnswerRefuses(t *testing.T) {
	for _, tc := range []struct {
		name  string
		frame []byte
		want  string
	}{
		{"empty", nil, "bad request id"},
		{"no status", []byte{1}, "bad status"},
		{"status over 999", binary.AppendUvarint([]byte{1}, 1000), "bad status"},
	} {
		if _, _, _, err := ParseStreamAnswer(tc.frame); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: ParseStreamAnswer = %v; want an error with %q", tc.name, err, tc.want)
		}
	}
}

func TestReadStreamLength(t *testing.T) {
	var lb [4]byte
	n, err := ReadStreamLength(bytes.NewReader([]byte{0, 1, 0, 2, 'x'}), &lb)
	if err != nil || n != 1<<16+2 {
		t.Errorf("ReadStreamLength = %d, %v; want %d", n, err, 1<<16+2)
	}
	if _, err := ReadStreamLength(bytes.NewReader([]byte{0, 1}), &lb); !errors.Is(err, io.ErrUnexpectedEOF) {
		t.Errorf("ReadStreamLength of 2 bytes: %v; want unexpected EOF", err)
	}
	if _, err := ReadStreamLength(bytes.NewReader(nil), &lb); err != io.EOF {
		t.Errorf("ReadStreamLength at the end: %v; want EOF", err)
	}
}

func TestReadStreamFrame(t *testing.T) {
	data := bytes.Repeat([]byte("abcdefgh"), 40<<10) // 320 KiB
	// Into a buffer large enough: no new one.
	buf := make([]byte, 0, len(data))
	f, err := ReadStreamFrame(bytes.NewReader(data), len(data), buf)
	if err != nil || !bytes.Equal(f, data) || &f[0] != &buf[:1][0] {
		t.Errorf("ReadStreamFrame into a large buffer: %d bytes, %v, same buffer %v", len(f), err, &f[0] == &buf[:1][0])
	}
	// Grown as bytes come.
	f, err = ReadStreamFrame(bytes.NewReader(data), len(data), nil)
	if err != nil || !bytes.Equal(f, data) {
		t.Errorf("ReadStreamFrame into nil: %d bytes, %v", len(f), err)
	}
	// A frame that claims more than comes: the bytes read, an error, and
	// a buffer near their size, not the size claimed.
	f, err = ReadStreamFrame(bytes.NewReader(data[:100]), 1<<30, nil)
	if !errors.Is(err, io.ErrUnexpectedEOF) || len(f) != 100 {
		t.Errorf("ReadStreamFrame of a truncated frame: %d bytes, %v; want 100 and unexpected EOF", len(f), err)
	}
	if cap(f) > 128<<10 {
		t.Errorf("truncated frame: buffer of %d bytes for 100 read", cap(f))
	}
	if f, err := ReadStreamFrame(bytes.NewReader(nil), 0, nil); err != nil || len(f) != 0 {
		t.Errorf("ReadStreamFrame of 0 bytes: %d, %v", len(f), err)
	}
}

func TestStringField(t *testing.T) {
	b := AppendString(nil, "queue")
	b = AppendString(b, "")
	s, rest, ok := CutString(b)
	if !ok || s != "queue" {
		t.Fatalf("CutString = %q, %v; want queue", s, ok)
	}
	s, rest, ok = CutString(rest)
	if !ok || s != "" || len(rest) != 0 {
		t.Fatalf("CutString of the empty string = %q, %q, %v", s, rest, ok)
	}
	for _, bad := range [][]byte{nil, {0x80}, {3, 'a'}} {
		if s, rest, ok := CutString(bad); ok || !bytes.Equal(rest, bad) {
			t.Errorf("CutString(%q) = %q, %q, %v; want not ok, the input back", bad, s, rest, ok)
		}
	}
}

func TestStreamOpString(t *testing.T) {
	for op, want := range map[StreamOp]string{
		StreamSend: "send", StreamTransfer: "transfer", StreamAck: "ack", StreamRelease: "release",
		StreamWithdraw: "withdraw", StreamPing: "keepalive", StreamCancel: "cancel",
		StreamConsume: "consume", StreamReply: "reply", 0: "op(0)", 200: "op(200)",
	} {
		if got := op.String(); got != want {
			t.Errorf("StreamOp(%d).String() = %q; want %q", byte(op), got, want)
		}
	}
}

// FuzzStreamRequest decodes arbitrary bytes as a request frame: it must
// never panic, and what it accepts must encode back to a frame that
// decodes the same.
func FuzzStreamRequest(f *testing.F) {
	for _, r := range []StreamRequest{
		{Op: StreamSend, ID: 1, Queue: "jobs", Body: AppendSendFrame(nil, &Message{Payload: []byte("x"), CorrelationID: "c"})},
		{Op: StreamTransfer, ID: 300, Body: []byte(`{"acks":{"q":[1]},"timeout_ms":5000}`)},
		{Op: StreamWithdraw, ID: 3, Queue: "q", Arg: 1<<64 - 1},
		{Op: StreamConsume, ID: 4, Arg: 8, Body: []byte{ConsumeAutoAck}},
		{Op: StreamReply, ID: 5, Queue: "reply-q", Arg: 2, Body: AppendString(nil, "q")},
	} {
		f.Add(prefixed(f, requestFrame(&r, r.Body)))
	}
	f.Add([]byte{})
	f.Add([]byte{byte(StreamPing), 0x80})
	f.Add([]byte{byte(StreamSend), 1, 0xff, 0xff, 0x03})
	f.Fuzz(func(t *testing.T, frame []byte) {
		var r StreamRequest
		if err := ParseStreamRequest(frame, &r); err != nil {
			return
		}
		if len(r.Queue) > MaxNameLen {
			t.Fatalf("queue of %d bytes accepted; limit %d", len(r.Queue), MaxNameLen)
		}
		if len(r.Body) > len(frame) || (len(r.Body) > 0 && &r.Body[len(r.Body)-1] != &frame[len(frame)-1]) {
			t.Fatal("body does not alias the frame's tail")
		}
		op, id, ok := ParseStreamID(frame)
		if !ok || op != r.Op || id != r.ID {
			t.Fatalf("ParseStreamID = %v %d %v; ParseStreamRequest said %v %d", op, id, ok, r.Op, r.ID)
		}
		again := prefixed(t, requestFrame(&r, r.Body))
		var r2 StreamRequest
		if err := ParseStreamRequest(again, &r2); err != nil {
			t.Fatalf("re-encoded %+v does not decode: %v", r, err)
		}
		if r2.Op != r.Op || r2.ID != r.ID || r2.Queue != r.Queue || r2.Arg != r.Arg || !bytes.Equal(r2.Body, r.Body) {
			t.Fatalf("round trip = %+v; want %+v", r2, r)
		}
	})
}

// FuzzStreamAnswer does the same for answer frames.
func FuzzStreamAnswer(f *testing.F) {
	f.Add(prefixed(f, AppendStreamAnswer(nil, 1, 200, 0)))
	f.Add(prefixed(f, append(AppendStreamAnswer(nil, 1<<40, 404, 3), "{}\n"...)))
	f.Add([]byte{0x80})
	f.Add([]byte{1, 0xe8, 0x07})
	f.Fuzz(func(t *testing.T, frame []byte) {
		id, status, body, err := ParseStreamAnswer(frame)
		if err != nil {
			return
		}
		if status < 0 || status > 999 {
			t.Fatalf("status %d accepted", status)
		}
		again := prefixed(t, append(AppendStreamAnswer(nil, id, status, len(body)), body...))
		id2, status2, body2, err := ParseStreamAnswer(again)
		if err != nil || id2 != id || status2 != status || !bytes.Equal(body2, body) {
			t.Fatalf("round trip = %d %d %q %v; want %d %d %q", id2, status2, body2, err, id, status, body)
		}
	})
}

// FuzzReadStreamFrame reads a frame whose length prefix claims n bytes
// from a connection that has only data: it must return data (or all n
// of it), and never hold a buffer much larger than what came.
func FuzzReadStreamFrame(f *testing.F) {
	f.Add(uint32(5), []byte("hello"))
	f.Add(uint32(1<<31), []byte("short"))
	f.Add(uint32(80<<10), bytes.Repeat([]byte{1}, 70<<10))
	f.Add(uint32(0), []byte{})
	f.Fuzz(func(t *testing.T, n uint32, data []byte) {
		f, err := ReadStreamFrame(bytes.NewReader(data), int(n), nil)
		want := data[:min(len(data), int(n))]
		if !bytes.Equal(f, want) {
			t.Fatalf("read %d bytes; want %d", len(f), len(want))
		}
		if (err != nil) != (len(data) < int(n)) {
			t.Fatalf("error %v with %d of %d bytes", err, len(data), n)
		}
		if cap(f) > 2*len(f)+128<<10 {
			t.Fatalf("buffer of %d bytes for %d read (claimed %d)", cap(f), len(f), n)
		}
	})
}
