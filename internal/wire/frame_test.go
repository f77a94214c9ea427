package wire

import (
	"bytes"
	"errors"
	"io"
	"testing"
	"time"
)

func TestFrameRoundTrip(t *testing.T) {
	in := []Delivery{
		{Queue: "q", ID: 1, DeliveryCount: 2, Origin: "o[1]@h", EnqueuedAt: time.Unix(0, 1234567890),
			Message: Message{Payload: []byte{0, 0xff, 'a'}, CorrelationID: "c", ReplyTo: "r", Status: 3}},
		{Message: Message{Payload: []byte{}}},
		{ID: 1 << 60, Message: Message{Payload: bytes.Repeat([]byte("x"), 70000)}},
	}
	var buf []byte
	for i := range in {
		buf = AppendFrame(buf, &in[i])
	}
	fr := NewFrameReader(bytes.NewReader(buf), 1<<20)
	for i := range in {
		var d Delivery
		if err := fr.Next(&d); err != nil {
			t.Fatalf("frame %d: %v", i, err)
		}
		if d.Queue != in[i].Queue || d.ID != in[i].ID || d.DeliveryCount != in[i].DeliveryCount || d.Origin != in[i].Origin ||
			!d.EnqueuedAt.Equal(in[i].EnqueuedAt) || !bytes.Equal(d.Payload, in[i].Payload) ||
			d.CorrelationID != in[i].CorrelationID || d.ReplyTo != in[i].ReplyTo || d.Status != in[i].Status {
			t.Errorf("frame %d = %+v; want %+v", i, d, in[i])
		}
	}
	var d Delivery
	if err := fr.Next(&d); err != io.EOF {
		t.Errorf("after last frame: %v; want io.EOF", err)
	}
}

func TestSendFrameMatchesFrame(t *testing.T) {
	m := Message{Payload: []byte("p"), CorrelationID: "c", ReplyTo: "r", Status: 7}
	if a, b := AppendSendFrame(nil, &m), AppendFrame(nil, &Delivery{Message: m}); !bytes.Equal(a, b) {
		t.Errorf("AppendSendFrame = %x; AppendFrame = %x", a, b)
	}
}

func TestFrameErrors(t *testing.T) {
	good := AppendFrame(nil, &Delivery{Queue: "q", Message: Message{Payload: []byte("hello")}})
	for cut := 1; cut < len(good); cut++ {
		var d Delivery
		err := NewFrameReader(bytes.NewReader(good[:cut]), 100).Next(&d)
		if err == nil || err == io.EOF {
			t.Errorf("truncated at %d: %v; want an error", cut, err)
		}
	}
	var d Delivery
	err := NewFrameReader(bytes.NewReader(good), 4).Next(&d)
	if !errors.Is(err, ErrFrameTooLarge) {
		t.Errorf("payload over limit: %v; want ErrFrameTooLarge", err)
	}
}

func FuzzFrameReader(f *testing.F) {
	f.Add(AppendFrame(nil, &Delivery{Queue: "q", ID: 9, Message: Message{Payload: []byte("x"), CorrelationID: "c"}}))
	f.Add([]byte{0xff, 0xff, 0xff})
	f.Fuzz(func(t *testing.T, b []byte) {
		fr := NewFrameReader(bytes.NewReader(b), 1<<16)
		for i := 0; i < 100; i++ {
			var d Delivery
			if err := fr.Next(&d); err != nil {
				return
			}
		}
	})
}

func TestJSONRoundTrip(t *testing.T) {
	for _, p := range [][]byte{[]byte("text"), {0xff, 0}, {}} {
		d := Delivery{Queue: "q", ID: 3, DeliveryCount: 2, Message: Message{Payload: p, CorrelationID: "c", ReplyTo: "r", Status: 1}}
		j := ToJSON(&d)
		if (j.Payload != nil) == (j.PayloadBase64 != nil) {
			t.Errorf("payload %q: exactly one of payload and payload_base64 must be set", p)
		}
		back := FromJSON(&j)
		if !bytes.Equal(back.Payload, p) || back.CorrelationID != "c" || back.ReplyTo != "r" || back.Status != 1 || !back.Redelivered() {
			t.Errorf("round trip of %q = %+v", p, back)
		}
	}
}

func TestParseFrameMatchesFrameReader(t *testing.T) {
	in := []Delivery{
		{Queue: "q", ID: 1, DeliveryCount: 2, Origin: "o[1]@h", EnqueuedAt: time.Unix(0, 1234567890),
			Message: Message{Payload: []byte{0, 0xff, 'a'}, CorrelationID: "c", ReplyTo: "r", Status: 3}},
		{Message: Message{Payload: []byte{}}},
		{ID: 1 << 60, EnqueuedAt: time.Unix(0, -5), Message: Message{Payload: bytes.Repeat([]byte("x"), 70000)}},
	}
	var buf []byte
	for i := range in {
		buf = AppendFrame(buf, &in[i])
	}
	for i := range in {
		if got, want := FrameSize(&in[i]), len(AppendFrame(nil, &in[i])); got != want {
			t.Errorf("FrameSize of frame %d = %d, want %d", i, got, want)
		}
	}
	rest := buf
	for i := range in {
		var d Delivery
		var err error
		if rest, err = ParseFrame(rest, 1<<20, &d); err != nil {
			t.Fatalf("frame %d: %v", i, err)
		}
		if d.Queue != in[i].Queue || d.ID != in[i].ID || d.DeliveryCount != in[i].DeliveryCount || d.Origin != in[i].Origin ||
			!d.EnqueuedAt.Equal(in[i].EnqueuedAt) || !bytes.Equal(d.Payload, in[i].Payload) ||
			d.CorrelationID != in[i].CorrelationID || d.ReplyTo != in[i].ReplyTo || d.Status != in[i].Status {
			t.Errorf("frame %d = %+v; want %+v", i, d, in[i])
		}
		if cap(d.Payload) != len(d.Payload) {
			t.Errorf("frame %d: payload capacity %d reaches past its %d bytes", i, cap(d.Payload), len(d.Payload))
		}
	}
	if len(rest) != 0 {
		t.Errorf("%d bytes left", len(rest))
	}

	good := AppendFrame(nil, &Delivery{Queue: "q", Message: Message{Payload: []byte("hello")}})
	for cut := 1; cut < len(good); cut++ {
		var d Delivery
		if _, err := ParseFrame(good[:cut], 100, &d); err == nil {
			t.Errorf("truncated at %d: no error", cut)
		}
	}
	var d Delivery
	if _, err := ParseFrame(good, 4, &d); !errors.Is(err, ErrFrameTooLarge) {
		t.Errorf("payload over limit: %v; want ErrFrameTooLarge", err)
	}
}

func FuzzParseFrame(f *testing.F) {
	f.Add(AppendFrame(nil, &Delivery{Queue: "q", ID: 3, Message: Message{Payload: []byte("p"), CorrelationID: "c"}}))
	f.Fuzz(func(t *testing.T, b []byte) {
		// Whatever the bytes, ParseFrame and FrameReader agree.
		var a, r Delivery
		_, perr := ParseFrame(b, 1<<16, &a)
		rerr := NewFrameReader(bytes.NewReader(b), 1<<16).Next(&r)
		if (perr == nil) != (rerr == nil) {
			t.Fatalf("ParseFrame: %v, FrameReader: %v", perr, rerr)
		}
		if perr == nil && (a.ID != r.ID || a.Queue != r.Queue || !bytes.Equal(a.Payload, r.Payload) || a.CorrelationID != r.CorrelationID) {
			t.Fatalf("ParseFrame %+v, FrameReader %+v", a, r)
		}
	})
}

// FuzzFrame decodes arbitrary bytes as a frames body both ways the
// switch does (ParseFrame for the stream, FrameReader for HTTP): neither
// may panic, they must accept and refuse the same records alike, and
// what they accept must encode back to the same bytes.
func FuzzFrame(f *testing.F) {
	f.Add(AppendFrame(nil, &Delivery{Queue: "q", ID: 1, DeliveryCount: 2, Origin: "o", EnqueuedAt: time.Unix(0, 5),
		Message: Message{Payload: []byte("p"), CorrelationID: "c", ReplyTo: "r", Status: 1}}))
	f.Add(AppendSendFrame(AppendSendFrame(nil, &Message{Payload: []byte("a")}), &Message{Payload: []byte{0xff}, CorrelationID: "x"}))
	f.Add([]byte{0, 0, 0, 0, 0, 0, 0, 0x80})
	f.Add([]byte{0, 0, 0xff, 0x7f})
	const maxPayload = 1 << 10
	f.Fuzz(func(t *testing.T, body []byte) {
		fr := NewFrameReader(bytes.NewReader(body), maxPayload)
		defer fr.Close()
		rest := body
		for n := 1; ; n++ {
			var p, r Delivery
			next, perr := ParseFrame(rest, maxPayload, &p)
			rerr := fr.Next(&r)
			if len(rest) == 0 {
				if rerr != io.EOF {
					t.Fatalf("frame %d: the body ended; FrameReader says %v", n, rerr)
				}
				return
			}
			if (perr == nil) != (rerr == nil) || errors.Is(perr, ErrFrameTooLarge) != errors.Is(rerr, ErrFrameTooLarge) {
				t.Fatalf("frame %d: ParseFrame says %v, FrameReader %v", n, perr, rerr)
			}
			if perr != nil {
				return
			}
			if p.Queue != r.Queue || p.ID != r.ID || p.DeliveryCount != r.DeliveryCount || p.Origin != r.Origin ||
				!p.EnqueuedAt.Equal(r.EnqueuedAt) || !bytes.Equal(p.Payload, r.Payload) ||
				p.CorrelationID != r.CorrelationID || p.ReplyTo != r.ReplyTo || p.Status != r.Status {
				t.Fatalf("frame %d: ParseFrame %+v, FrameReader %+v", n, p, r)
			}
			record := rest[:len(rest)-len(next)]
			if FrameSize(&p) != len(AppendFrame(nil, &p)) {
				t.Fatalf("frame %d: FrameSize %d; AppendFrame writes %d", n, FrameSize(&p), len(AppendFrame(nil, &p)))
			}
			var again Delivery
			if _, err := ParseFrame(AppendFrame(nil, &p), maxPayload, &again); err != nil || again.ID != p.ID ||
				again.CorrelationID != p.CorrelationID || !bytes.Equal(again.Payload, p.Payload) || !again.EnqueuedAt.Equal(p.EnqueuedAt) {
				t.Fatalf("frame %d (%x): re-encoded = %+v, %v; want %+v", n, record, again, err, p)
			}
			rest = next
		}
	})
}
