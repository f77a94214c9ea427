package send

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"slices"
	"strings"
	"testing"
	"testing/iotest"

	"msw/broker"
	"msw/internal/tool"
	"msw/internal/tool/tooltest"
	"msw/lib"
)

// splitAll runs a splitter over input and returns its batches.
func splitAll(t *testing.T, sp *splitter, r io.Reader) []sendBatch {
	t.Helper()
	out := make(chan sendBatch)
	go sp.read(context.Background(), r, out)
	var bs []sendBatch
	for b := range out {
		bs = append(bs, b)
	}
	return bs
}

// payloads flattens batches to their payloads, with each message's line.
func payloads(bs []sendBatch) (ps []string, lines []int) {
	for _, b := range bs {
		for i, m := range b.msgs {
			ps = append(ps, string(m.Payload))
			lines = append(lines, b.lineOf(i))
		}
	}
	return ps, lines
}

func TestSplitLines(t *testing.T) {
	for _, tc := range []struct {
		name, in string
		want     []string
	}{
		{"empty input is no message", "", nil},
		{"one line", "a\n", []string{"a"}},
		{"last line without newline", "a\nb", []string{"a", "b"}},
		{"empty lines are empty messages", "\n\na\n", []string{"", "", "a"}},
		{"CR is kept", "a\r\nb\r\n", []string{"a\r", "b\r"}},
		{"NUL and invalid UTF-8 are kept", "a\x00\xff\n", []string{"a\x00\xff"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, lines := payloads(splitAll(t, &splitter{mode: splitLines}, strings.NewReader(tc.in)))
			if !slices.Equal(got, tc.want) {
				t.Errorf("got %q, want %q", got, tc.want)
			}
			for i, l := range lines {
				if l != i+1 {
					t.Errorf("message %d has line %d", i, l)
				}
			}
		})
	}
}

func TestSplitNUL(t *testing.T) {
	got, _ := payloads(splitAll(t, &splitter{mode: splitNUL}, strings.NewReader("a\nb\x00c\x00d")))
	if want := []string{"a\nb", "c", "d"}; !slices.Equal(got, want) {
		t.Errorf("got %q, want %q", got, want)
	}
}

func TestSplitKeepsOrderAcrossBatches(t *testing.T) {
	var in strings.Builder
	const n = 3*sendBatchMsgs + 17
	for i := range n {
		in.WriteString(strings.Repeat("x", i%50))
		in.WriteByte('\n')
	}
	// One byte at a time: the input is drained after every byte, so
	// batches are handed over small as well as full.
	for _, r := range []io.Reader{strings.NewReader(in.String()), iotest.HalfReader(strings.NewReader(in.String()))} {
		bs := splitAll(t, &splitter{mode: splitLines}, r)
		got, lines := payloads(bs)
		if len(got) != n {
			t.Fatalf("%d messages, want %d", len(got), n)
		}
		for i := range got {
			if len(got[i]) != i%50 || lines[i] != i+1 {
				t.Fatalf("message %d: %d bytes on line %d", i, len(got[i]), lines[i])
			}
		}
		for _, b := range bs {
			if len(b.msgs) > sendBatchMsgs {
				t.Errorf("batch of %d messages", len(b.msgs))
			}
		}
	}
}

func TestSplitBigMessageGoesAlone(t *testing.T) {
	big := strings.Repeat("y", sendBatchBytes+10)
	in := "a\nb\n" + big + "\nc\n"
	bs := splitAll(t, &splitter{mode: splitLines}, strings.NewReader(in))
	for _, b := range bs {
		for i, m := range b.msgs {
			if len(m.Payload) == len(big) && len(b.msgs) != 1 {
				t.Errorf("the big message shares a batch of %d", len(b.msgs))
			}
			if len(m.Payload) == len(big) && b.lineOf(i) != 3 {
				t.Errorf("the big message is on line %d", b.lineOf(i))
			}
		}
	}
	got, _ := payloads(bs)
	if want := []string{"a", "b", big, "c"}; !slices.Equal(got, want) {
		t.Errorf("got %d messages", len(got))
	}
}

func TestSplitPayloadsDoNotShareBytes(t *testing.T) {
	bs := splitAll(t, &splitter{mode: splitLines}, strings.NewReader("ab\ncd\n"))
	got, _ := payloads(bs)
	if len(got) != 2 {
		t.Fatal(got)
	}
	m := bs[0].msgs[0]
	m.Payload = append(m.Payload, 'X') // must not run into "cd"
	if got, _ := payloads(bs); got[1] != "cd" {
		t.Errorf("second payload became %q", got[1])
	}
}

func TestSplitFlagsSetEveryMessage(t *testing.T) {
	bs := splitAll(t, &splitter{mode: splitLines, corrID: "c", replyTo: "r"}, strings.NewReader("a\nb\n"))
	for _, b := range bs {
		for _, m := range b.msgs {
			if m.CorrelationID != "c" || m.ReplyTo != "r" {
				t.Errorf("message %+v", m)
			}
		}
	}
}

func TestSplitJSON(t *testing.T) {
	in := `{"payload":"a","correlation_id":"c1","reply_to":"r1","status":2}

{"queue":"old","id":7,"payload_base64":"AP8=","redelivered":true,"delivery_count":3}
`
	bs := splitAll(t, &splitter{mode: splitJSON}, strings.NewReader(in))
	var ms []lib.Message
	var lines []int
	for _, b := range bs {
		if b.err != nil {
			t.Fatal(b.err)
		}
		for i, m := range b.msgs {
			ms = append(ms, m)
			lines = append(lines, b.lineOf(i))
		}
	}
	if len(ms) != 2 {
		t.Fatalf("%d messages", len(ms))
	}
	if m := ms[0]; string(m.Payload) != "a" || m.CorrelationID != "c1" || m.ReplyTo != "r1" || m.Status != 2 {
		t.Errorf("first: %+v", m)
	}
	if m := ms[1]; !bytes.Equal(m.Payload, []byte{0, 0xff}) || m.CorrelationID != "" || m.ReplyTo != "" {
		t.Errorf("second: %+v", m)
	}
	if lines[0] != 1 || lines[1] != 3 {
		t.Errorf("lines %v, want [1 3] (the blank line is skipped)", lines)
	}

	// Flags replace the envelope's values.
	bs = splitAll(t, &splitter{mode: splitJSON, corrID: "new", replyTo: "other"}, strings.NewReader(in))
	for _, b := range bs {
		for _, m := range b.msgs {
			if m.CorrelationID != "new" || m.ReplyTo != "other" {
				t.Errorf("flags not applied: %+v", m)
			}
		}
	}
}

func TestSplitJSONErrorKeepsEarlierLines(t *testing.T) {
	in := "{\"payload\":\"1\"}\n{\"payload\":\"2\"}\nnot json\n{\"payload\":\"4\"}\n"
	bs := splitAll(t, &splitter{mode: splitJSON}, strings.NewReader(in))
	last := bs[len(bs)-1]
	if last.err == nil || last.err.Error() != "line 3: want a JSON object" {
		t.Fatalf("error %v", last.err)
	}
	got, _ := payloads(bs)
	if want := []string{"1", "2"}; !slices.Equal(got, want) {
		t.Errorf("sent %q before the error, want %q", got, want)
	}
}

func TestDecodeEnvelope(t *testing.T) {
	for _, tc := range []struct {
		in, err string
		payload string
	}{
		{in: `{"payload":""}`, payload: ""},
		{in: `{"payload_base64":""}`, payload: ""},
		{in: ` {"payload":"x"} `, payload: "x"},
		{in: `{"payload":"x","payload_base64":"eA=="}`, err: "both payload and payload_base64"},
		{in: `{"payload":null}`, err: "no payload or payload_base64"},
		{in: `{}`, err: "no payload or payload_base64"},
		{in: `[]`, err: "want a JSON object"},
		{in: `{"payload":1}`, err: "payload: want a string"},
		{in: `{"payload_base64":"!!"}`, err: "bad JSON: illegal base64 data at input byte 0"},
		{in: `{"payload":"x","status":-1}`, err: "status: want a whole number from 0 to 255"},
		{in: `{"payload":"x","reply_to":"a b"}`, err: `reply_to: bad queue name: "a b": character ' ' at 1 not allowed (letters, digits, _ . - : @; first a letter, digit or _)`},
		{in: `{"payload":"x","correlation_id":"` + strings.Repeat("c", broker.MaxFieldLen+1) + `"}`, err: fmt.Sprintf("correlation_id: %d bytes, limit %d", broker.MaxFieldLen+1, broker.MaxFieldLen)},
		{in: `{"payload":"x"} {}`, err: "bad JSON: invalid character '{' after top-level value"},
	} {
		m, err := decodeEnvelope([]byte(tc.in))
		switch {
		case tc.err != "" && (err == nil || err.Error() != tc.err):
			t.Errorf("%.40s: error %v, want %q", tc.in, err, tc.err)
		case tc.err == "" && err != nil:
			t.Errorf("%.40s: %v", tc.in, err)
		case tc.err == "" && (string(m.Payload) != tc.payload || m.Payload == nil):
			t.Errorf("%.40s: payload %q", tc.in, m.Payload)
		}
	}
}

func TestSendUsageErrors(t *testing.T) {
	for _, tc := range []struct {
		args []string
		code int
		msg  string
	}{
		{nil, tool.ExitUsage, "msw-send: missing QUEUE\n"},
		{[]string{"a", "b"}, tool.ExitUsage, "msw-send: unexpected argument \"b\"\n"},
		{[]string{"-l", "--json", "q"}, tool.ExitUsage, "msw-send: -l, -0 and --json exclude each other\n"},
		{[]string{"--nope", "q"}, tool.ExitUsage, "msw-send: unknown option --nope\n"},
		{[]string{"-s", "unix:", "q"}, tool.ExitUsage, "msw-send: -s/--switch: switch address \"unix:\": empty socket path\n"},
		{[]string{"--correlation-id", strings.Repeat("c", broker.MaxFieldLen+1), "q"}, tool.ExitUsage, fmt.Sprintf("msw-send: --correlation-id: %d bytes, limit %d\n", broker.MaxFieldLen+1, broker.MaxFieldLen)},
		{[]string{"a/b"}, tool.ExitFailure, "msw-send: bad queue name: \"a/b\": character '/' at 1 not allowed (letters, digits, _ . - : @; first a letter, digit or _)\n"},
	} {
		var stdout, stderr bytes.Buffer
		code := Run(tc.args, strings.NewReader(""), &stdout, &stderr)
		if code != tc.code || !strings.HasPrefix(stderr.String(), tc.msg) || stdout.Len() != 0 {
			t.Errorf("%q: exit %d, stderr %q; want %d, %q", tc.args, code, stderr.String(), tc.code, tc.msg)
		}
	}
}

func TestSendHelpListsEveryOption(t *testing.T) {
	var stdout, stderr bytes.Buffer
	if code := Run([]string{"-h"}, nil, &stdout, &stderr); code != tool.ExitOK || stderr.Len() != 0 {
		t.Fatalf("exit %d, stderr %q", code, stderr.String())
	}
	help := stdout.String()
	for _, want := range []string{"Usage: msw-send [options] QUEUE\n", "\nInput:\n", "  -l, --lines  ", "  -0, --null  ", "  --json  ",
		"\nMessage:\n", "  --correlation-id ID  ", "  --reply-to QUEUE  ", "\nSwitch:\n", "  -s, --switch ADDRESS  ",
		"  --wait DURATION  ", "(default 5s)", "  --client-id ", "Exit status: 0 success, 1 failure, 2 usage error, 69 switch unreachable, 124 timeout,\n130 interrupted (Ctrl-C).\n"} {
		if !strings.Contains(help, want) {
			t.Errorf("help lacks %q:\n%s", want, help)
		}
	}
	if strings.Contains(help, "Other:") {
		t.Errorf("an option is in no group:\n%s", help)
	}
}

func TestSendToSomeonesTransientQueue(t *testing.T) {
	addr, owner := sendTestSwitch(t)
	ctx := context.Background()
	name, err := owner.CreateTransient(ctx, "reply-1")
	if err != nil {
		t.Fatal(err)
	}
	var stdout, stderr bytes.Buffer
	if code := Run([]string{"-s", addr, name}, strings.NewReader("answer"), &stdout, &stderr); code != tool.ExitOK {
		t.Fatalf("exit %d, stderr %q", code, stderr.String())
	}
	ds, err := owner.Peek(ctx, name, 10)
	if err != nil || len(ds) != 1 || string(ds[0].Payload) != "answer" {
		t.Fatalf("queue holds %+v, %v", ds, err)
	}
	if qi, _ := owner.Info(ctx, name); qi.Kind != "transient" {
		t.Errorf("queue is %s now", qi.Kind)
	}
}

func TestSendOversizedNamesTheLineAndSendsWhatCameBefore(t *testing.T) {
	addr, cl := sendTestSwitch(t)
	ctx := context.Background()
	big := strings.Repeat("x", broker.DefaultMaxPayload+1)
	in := "a\nb\n" + big + "\nc\n"
	var stdout, stderr bytes.Buffer
	code := Run([]string{"-s", addr, "-l", "q"}, strings.NewReader(in), &stdout, &stderr)
	want := fmt.Sprintf("msw-send: line 3: payload too large: %d bytes, limit %d\n", len(big), broker.DefaultMaxPayload)
	if code != tool.ExitFailure || stderr.String() != want {
		t.Fatalf("exit %d, stderr %q; want 1, %q", code, stderr.String(), want)
	}
	ds, _ := cl.Peek(ctx, "q", 10)
	if len(ds) != 2 || string(ds[0].Payload) != "a" || string(ds[1].Payload) != "b" {
		t.Errorf("queue holds %d messages", len(ds))
	}
}

// sendTestSwitch runs a switch in the test process and returns its
// address and a client of it.
func sendTestSwitch(t *testing.T) (string, *lib.Client) {
	addr := tooltest.Switch(t, broker.Options{})
	return addr, tooltest.Client(t, addr, "test")
}
