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
