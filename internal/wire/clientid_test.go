package wire

import "testing"

func TestClientID(t *testing.T) {
	if got, want := ClientID("msw-recv", 4242, "box"), "msw-recv[4242]@box"; got != want {
		t.Errorf("ClientID = %q; want %q", got, want)
	}
}
