package broker

import (
	"bytes"
	"strings"
	"testing"

	"msw/internal/wire"
)

// TestRecordFields checks that every field a send fixes comes back out of
// the record as it went in, with and without a topic, and that the
// records made from one for the payload cache and for a dead letter keep
// the rest and leave the original as it was.
func TestRecordFields(t *testing.T) {
	cases := []struct {
		topic, corr, reply string
		payload            []byte
		status             uint8
	}{
		{"", "", "", nil, 0},
		{"", "c-1", "tmp-7", []byte("hello"), 3},
		{"orders.eu", "", "", []byte("x"), 0},
		{"t", strings.Repeat("c", MaxFieldLen), strings.Repeat("r", MaxNameLen), bytes.Repeat([]byte{0xff}, 300), 255},
		{strings.Repeat("t", MaxNameLen), "corr", "", nil, 1},
	}
	for _, tc := range cases {
		w := wire.Message{Payload: tc.payload, CorrelationID: tc.corr, ReplyTo: tc.reply, Status: tc.status}
		m := newMessage(&w, tc.topic, 12345)
		m.id, m.deliveries = 9, 2
		check := func(what string, m *message, enqueued int64, payload []byte) {
			t.Helper()
			if m.topic() != tc.topic || m.corr() != tc.corr || m.replyTo() != tc.reply || m.status() != tc.status ||
				m.enqueued() != enqueued || !bytes.Equal(m.payload(), payload) || m.id != 9 || m.deliveries != 2 {
				t.Errorf("%s: topic %q corr %q reply %q status %d enqueued %d payload %q; want %q %q %q %d %d %q",
					what, m.topic(), m.corr(), m.replyTo(), m.status(), m.enqueued(), m.payload(),
					tc.topic, tc.corr, tc.reply, tc.status, enqueued, payload)
			}
			want := len(tc.corr) + len(tc.reply) + len(payload)
			if m.onDisk() {
				want += diskLenSize
			}
			if len(m.fields()) != want {
				t.Errorf("%s: fields of %d bytes, want %d", what, len(m.fields()), want)
			}
		}
		check("new", &m, 12345, tc.payload)
		if m.onDisk() || m.heldSize() != m.size() {
			t.Errorf("new: on disk %v, held %d of %d", m.onDisk(), m.heldSize(), m.size())
		}
		evicted := m.withPayloadOnDisk(uint32(len(tc.payload)))
		check("payload on disk", &evicted, 12345, nil)
		if !evicted.onDisk() || evicted.diskLen() != len(tc.payload) || evicted.heldSize() != m.size()-len(tc.payload) {
			t.Errorf("payload on disk: on disk %v, length %d, held %d; want true, %d, %d",
				evicted.onDisk(), evicted.diskLen(), evicted.heldSize(), len(tc.payload), m.size()-len(tc.payload))
		}
		moved := evicted.withEnqueued(67890)
		check("payload on disk, moved", &moved, 67890, nil)
		if !moved.onDisk() || moved.diskLen() != len(tc.payload) {
			t.Errorf("payload on disk, moved: on disk %v, length %d", moved.onDisk(), moved.diskLen())
		}
		loaded := evicted.withPayload(tc.payload)
		check("payload back", &loaded, 12345, tc.payload)
		if loaded.onDisk() {
			t.Error("payload back: still on disk")
		}
		dead := m.withEnqueued(67890)
		check("dead letter", &dead, 67890, tc.payload)
		check("original after", &m, 12345, tc.payload)
		check("payload on disk after", &evicted, 12345, nil)
		d := m.delivery("q")
		if d.CorrelationID != tc.corr || d.ReplyTo != tc.reply || !bytes.Equal(d.Payload, tc.payload) || d.ID != 9 || d.DeliveryCount != 2 || d.EnqueuedAt.UnixNano() != 12345 {
			t.Errorf("delivery %+v", d)
		}
	}
}
