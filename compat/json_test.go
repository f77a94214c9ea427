package compat

import "testing"

func TestStringsKeepRawBytes(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"a\"b\\c\n\x01\x7fé/<>&", `"a\"b\\c\n\u0001\u007fé/<>&"`},
		{"\b\f\r\t\x1f", `"\b\f\r\t\u001f"`},
		{"\xff\xfe raw", "\"\xff\xfe raw\""},
		{"", `""`},
	} {
		var e enc
		e.str(tc.in)
		if string(e.b) != tc.want {
			t.Errorf("str(%q) = %s; want %s", tc.in, e.b, tc.want)
		}
	}
}

func TestFloatsAsTheOriginalPrintsThem(t *testing.T) {
	for _, tc := range []struct {
		in   float64
		want string
	}{
		{30, "30.0"}, {0.5, "0.5"}, {0, "0.0"}, {1700000000.25, "1700000000.25"},
		{1796121236.2035818, "1796121236.2035818"}, {0.1, "0.1"}, {1e20, "1e+20"},
	} {
		var e enc
		e.float(tc.in)
		if string(e.b) != tc.want {
			t.Errorf("float(%v) = %s; want %s", tc.in, e.b, tc.want)
		}
	}
}

func TestKinds(t *testing.T) {
	for _, tc := range []struct{ replyTo, corr, want string }{
		{"r", "q/7", `["Request","r"]`},
		{"", "q/7", `["Response",["q",7]]`},
		{"", "foo x/3", `["Response",["foo x",3]]`},
		{"", "abc-1", `["Request",""]`},
		{"", "", `["Request",""]`},
	} {
		var e enc
		kindOf(tc.replyTo, tc.corr).append(&e)
		if string(e.b) != tc.want {
			t.Errorf("kindOf(%q, %q) = %s; want %s", tc.replyTo, tc.corr, e.b, tc.want)
		}
	}
}
