package wire

import "testing"

func TestMaxRequestLen(t *testing.T) {
	for _, tc := range []struct{ maxPayload, want int }{
		{0, 64 << 20},
		{DefaultMaxPayload, 64 << 20},
		{63 << 20, 64 << 20},
		{100 << 20, 101 << 20},
	} {
		if got := MaxRequestLen(tc.maxPayload); got != tc.want {
			t.Errorf("MaxRequestLen(%d) = %d; want %d", tc.maxPayload, got, tc.want)
		}
	}
}
