package recv

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"strings"
	"syscall"
	"testing"
	"time"

	"msw/broker"
	"msw/internal/tool"
	"msw/internal/tool/tooltest"
	"msw/lib"
)

func testReceiver(format outputFormat, w *bytes.Buffer) *receiver {
	c := tool.NewCommand("msw-recv", "", w, w)
	r := newReceiver(c, nil, format, w)
	r.ackEvery = time.Hour // no client to acknowledge with
	return r
}

func deliveries(payloads ...string) []lib.Delivery {
	ds := make([]lib.Delivery, len(payloads))
	for i, p := range payloads {
		ds[i] = lib.Delivery{Queue: "q", ID: uint64(i + 1), DeliveryCount: 1, Message: lib.Message{Payload: []byte(p)}}
	}
	return ds
}

func TestRecvFormats(t *testing.T) {
	ds := deliveries("a", "b\n", "", "c\x00", "\xff")
	for _, tc := range []struct {
		format outputFormat
		want   string
	}{
		{formatRaw, "ab\nc\x00\xff"},
		{formatLines, "a\nb\n\nc\x00\n\xff\n"},
		{formatNUL, "a\x00b\n\x00\x00c\x00\xff\x00"},
		{formatJSON, `{"queue":"q","id":1,"correlation_id":"","redelivered":false,"delivery_count":1,"payload":"a"}
{"queue":"q","id":2,"correlation_id":"","redelivered":false,"delivery_count":1,"payload":"b\n"}
{"queue":"q","id":3,"correlation_id":"","redelivered":false,"delivery_count":1,"payload":""}
{"queue":"q","id":4,"correlation_id":"","redelivered":false,"delivery_count":1,"payload":"c\u0000"}
{"queue":"q","id":5,"correlation_id":"","redelivered":false,"delivery_count":1,"payload_base64":"/w=="}
`},
	} {
		var out bytes.Buffer
		r := testReceiver(tc.format, &out)
		n, err := r.writeBatch(context.Background(), ds)
		if err != nil || n != len(ds) {
			t.Fatalf("format %d: wrote %d, %v", tc.format, n, err)
		}
		if out.String() != tc.want {
			t.Errorf("format %d: got %q, want %q", tc.format, out.String(), tc.want)
		}
		if r.npending != len(ds) || len(r.pending["q"]) != len(ds) {
			t.Errorf("format %d: %d pending acks, want %d", tc.format, r.npending, len(ds))
		}
	}
}

func TestRecvJSONKeepsHTMLCharacters(t *testing.T) {
	var out bytes.Buffer
	r := testReceiver(formatJSON, &out)
	r.writeBatch(context.Background(), deliveries("<a&b>"))
	if !strings.Contains(out.String(), `"payload":"<a&b>"`) {
		t.Errorf("got %s", out.String())
	}
}

// brokenPipe takes limit bytes, then fails as a pipe without a reader.
type brokenPipe struct {
	bytes.Buffer
	limit int
}

func (b *brokenPipe) Write(p []byte) (int, error) {
	if room := b.limit - b.Len(); len(p) > room {
		b.Buffer.Write(p[:max(room, 0)])
		return max(room, 0), fmt.Errorf("write /dev/stdout: %w", syscall.EPIPE)
	}
	return b.Buffer.Write(p)
}

func TestRecvCountsOnlyWholeMessagesAsWritten(t *testing.T) {
	// Ten 10-byte lines; the pipe breaks in the middle of the fifth.
	var ps []string
	for i := range 10 {
		ps = append(ps, fmt.Sprintf("message %d", i))
	}
	ds := deliveries(ps...)
	w := &brokenPipe{limit: 45}
	c := tool.NewCommand("msw-recv", "", w, w)
	r := newReceiver(c, nil, formatLines, w)
	r.ackEvery = time.Hour
	_, err := r.writeBatch(context.Background(), ds)
	if !isOutputClosed(err) {
		t.Errorf("error %v is not a closed output", err)
	}
	if got := r.pending["q"]; len(got) != 4 || got[3] != 4 {
		t.Errorf("pending %v, want ids 1-4", got)
	}
	// The rest are held, to be given back: none of them was taken whole.
	if len(r.held) == 0 || r.held[0].id != 5 {
		t.Errorf("held %v, want the messages from id 5 on", r.held)
	}
}

func TestRecvStopsWritingWhenAskedTo(t *testing.T) {
	var out bytes.Buffer
	r := testReceiver(formatLines, &out)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if n, err := r.writeBatch(ctx, deliveries("a", "b")); n != 0 || err != nil {
		t.Errorf("wrote %d, %v after the stop", n, err)
	}
}

func TestRecvAdapt(t *testing.T) {
	r := testReceiver(formatRaw, &bytes.Buffer{})
	for range 20 {
		r.adapt(time.Second)
	}
	if r.take != 1 {
		t.Errorf("take %d after slow writes, want 1", r.take)
	}
	r.adapt(50 * time.Millisecond)
	if r.take != 1 {
		t.Errorf("take %d after a middling write, want 1", r.take)
	}
	for range 20 {
		r.adapt(time.Millisecond)
	}
	if r.take != recvMaxTake {
		t.Errorf("take %d after fast writes, want %d", r.take, recvMaxTake)
	}
}

func TestRecvUsageErrors(t *testing.T) {
	for _, tc := range []struct {
		args []string
		code int
		msg  string
	}{
		{nil, tool.ExitUsage, "msw-recv: missing QUEUE\n"},
		{[]string{"-n", "-1", "q"}, tool.ExitUsage, "msw-recv: -n -1: want a count of 0 or more\n"},
		{[]string{"-0", "--json", "q"}, tool.ExitUsage, "msw-recv: -N, -l, -0 and --json exclude each other\n"},
		{[]string{"--peek", "--timeout", "1", "q"}, tool.ExitUsage, "msw-recv: --peek shows what is there at once; -t does not apply\n"},
		{[]string{"-t", "-1s", "q"}, tool.ExitUsage, "msw-recv: invalid value \"-1s\" for -t: want a duration such as 5s, 1m30s or 0.5\n"},
		{[]string{"q", "a b"}, tool.ExitFailure, "msw-recv: bad queue name: \"a b\""},
		{[]string{"-n", "0", "q"}, tool.ExitOK, ""},
	} {
		var stdout, stderr bytes.Buffer
		code := Run(tc.args, nil, &stdout, &stderr)
		if code != tc.code || !strings.HasPrefix(stderr.String(), tc.msg) || stdout.Len() != 0 {
			t.Errorf("%q: exit %d, stderr %q; want %d, %q", tc.args, code, stderr.String(), tc.code, tc.msg)
		}
	}
}

func TestRecvHelpListsEveryOption(t *testing.T) {
	var stdout, stderr bytes.Buffer
	if code := Run([]string{"--help"}, nil, &stdout, &stderr); code != tool.ExitOK || stderr.Len() != 0 {
		t.Fatalf("exit %d, stderr %q", code, stderr.String())
	}
	help := stdout.String()
	for _, want := range []string{"Usage: msw-recv [options] QUEUE...\n", "\nWhich messages:\n", "  -n, --count N  ",
		"  -t, --timeout DURATION  ", "  --peek  ", "\nOutput:\n", "  -l, --lines  ", "  -0, --null  ", "  --json  ",
		"\nSwitch:\n", "default forever when"} {
		if !strings.Contains(help, want) {
			t.Errorf("help lacks %q:\n%s", want, help)
		}
	}
	if strings.Contains(help, "Other:") {
		t.Errorf("an option is in no group:\n%s", help)
	}
}

// recvTestSwitch runs a switch in the test process on a loopback port
// and returns its address and a client of it.
func recvTestSwitch(t *testing.T) (string, *lib.Client) {
	addr := tooltest.Switch(t, broker.Options{})
	return addr, tooltest.Client(t, addr, "test")
}

func TestRecvBrokenPipeGivesBackTheRest(t *testing.T) {
	addr, cl := recvTestSwitch(t)
	ctx := context.Background()
	if err := cl.CreateQueue(ctx, "q"); err != nil {
		t.Fatal(err)
	}
	var ms []lib.Message
	for i := range 100 {
		ms = append(ms, lib.Message{Payload: fmt.Appendf(nil, "%03d", i)})
	}
	if _, err := cl.SendBatch(ctx, "q", ms); err != nil {
		t.Fatal(err)
	}
	// Room for 10 lines and a half: 10 messages are written, 90 go back.
	w := &brokenPipe{limit: 42}
	var stderr bytes.Buffer
	if code := Run([]string{"-s", addr, "-l", "q"}, nil, w, &stderr); code != tool.ExitOK || stderr.Len() != 0 {
		t.Fatalf("exit %d, stderr %q", code, stderr.String())
	}
	qi, err := cl.Info(ctx, "q")
	if err != nil {
		t.Fatal(err)
	}
	if qi.Depth != 90 || qi.InFlight != 0 || qi.Subscribers != 0 {
		t.Fatalf("queue after: %+v", qi)
	}
	ds, err := cl.Peek(ctx, "q", 1)
	if err != nil || len(ds) != 1 || string(ds[0].Payload) != "010" || ds[0].DeliveryCount != 1 {
		t.Fatalf("next message %+v, %v; want 010, delivered once before", ds, err)
	}
}

func TestRecvNTakesNoMore(t *testing.T) {
	addr, cl := recvTestSwitch(t)
	ctx := context.Background()
	cl.CreateQueue(ctx, "q")
	cl.SendBatch(ctx, "q", []lib.Message{{Payload: []byte("a")}, {Payload: []byte("b")}, {Payload: []byte("c")}})
	var stdout, stderr bytes.Buffer
	if code := Run([]string{"-s", addr, "-n", "2", "q"}, nil, &stdout, &stderr); code != tool.ExitOK {
		t.Fatalf("exit %d, stderr %q", code, stderr.String())
	}
	if stdout.String() != "a\nb\n" {
		t.Errorf("stdout %q", stdout.String())
	}
	ds, _ := cl.Peek(ctx, "q", 10)
	if len(ds) != 1 || string(ds[0].Payload) != "c" || ds[0].DeliveryCount != 0 {
		t.Errorf("left %+v; want c, never delivered", ds)
	}
}

func TestRecvStopFailure(t *testing.T) {
	var stderr bytes.Buffer
	c := tool.NewCommand("msw-recv", "", &stderr, &stderr)
	r := newReceiver(c, nil, formatRaw, &stderr)
	err := &recvWriteError{errors.New("no space left on device")}
	if code := r.stop(context.Background(), err); code != tool.ExitFailure {
		t.Errorf("exit %d", code)
	}
	if got := stderr.String(); got != "msw-recv: writing standard output: no space left on device\n" {
		t.Errorf("stderr %q", got)
	}
}
