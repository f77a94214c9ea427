package wire

import (
	"encoding/json"
	"reflect"
	"strings"
	"testing"
)

var acksInputs = []string{
	`{}`, ` { } `, `{"q":[]}`, `{"q":[1,2,3]}`, `{"a":[1],"b":[18446744073709551615]}`,
	"{ \"q\" :\n[ 1 , 2 ]\t}", `{"q":[1],"q":[2]}`, `{"":[7]}`,
	// Not the usual form: encoding/json decides.
	`null`, `{"q":null}`, `{"q\u0031":[1]}`, `{"q":[1.0]}`, `{"q":[1e2]}`, `{"q":[-1]}`, `{"q":[01]}`,
	`{"q":[18446744073709551616]}`, `{"q":["1"]}`, `{"q":[1,]}`, `{"q":[1]`, `{"q":[1]} x`, `[]`, `{"q":1}`,
	`{"é":[1]}`, "{\"q\x01\":[1]}", ``,
	// Runs of ids.
	`{"q":[[1,3]]}`, `{"q":[1,[3,5],9]}`, `{"q":[[5,5]]}`, "{\"q\":[ [ 1 ,\n2 ] ]}", `{"q\u0031":[[1,3]]}`,
	`{"q":[[1,1048576]]}`, `{"a":[[1,1048575]],"b":[7]}`,
	// Bad runs: encoding/json's path words the error.
	`{"q":[[3,1]]}`, `{"q":[[1]]}`, `{"q":[[1,2,3]]}`, `{"q":[[]]}`, `{"q":[[1,-2]]}`, `{"q":[[1,2.5]]}`,
	`{"q":[[0,18446744073709551615]]}`, `{"q":[[1,1048577]]}`, `{"a":[[1,1048576]],"b":[7]}`, `{"q":[[1,2]}`,
}

// decodeStd decodes as Acks would without their fast path.
func decodeStd(b []byte) (map[string][]uint64, error) {
	var m Acks
	err := decodeAcksStd(b, &m)
	return m, err
}

// TestAcksSlowPathAsEncodingJSON: without runs, the reference decoder
// makes of acks what encoding/json makes of a map of id lists.
func TestAcksSlowPathAsEncodingJSON(t *testing.T) {
	for _, in := range acksInputs {
		if strings.Count(in, "[") > 1 { // runs
			continue
		}
		var want map[string][]uint64
		wantErr := json.Unmarshal([]byte(in), &want)
		got, err := decodeStd([]byte(in))
		if (err != nil) != (wantErr != nil) || err == nil && !reflect.DeepEqual(got, want) {
			t.Errorf("%q: got %#v, %v; want %#v, %v", in, got, err, want, wantErr)
		}
	}
}

// TestAcksRuns: runs are spelt out, written as pairs from three ids up,
// and read back as the ids they stand for.
func TestAcksRuns(t *testing.T) {
	for _, tc := range []struct {
		acks Acks
		want string
	}{
		{nil, `null`},
		{Acks{}, `{}`},
		{Acks{"q": nil}, `{"q":null}`},
		{Acks{"q": {}}, `{"q":[]}`},
		{Acks{"q": {7}}, `{"q":[7]}`},
		{Acks{"q": {1, 2}}, `{"q":[1,2]}`},
		{Acks{"q": {1, 2, 3}}, `{"q":[[1,3]]}`},
		{Acks{"b": {9, 1, 2, 3, 4, 6, 8, 9, 10}, "a": {5}}, `{"a":[5],"b":[9,[1,4],6,[8,10]]}`},
		{Acks{"q": {3, 3, 3}}, `{"q":[3,3,3]}`},
		{Acks{"q": {1<<64 - 2, 1<<64 - 1, 0, 1}}, `{"q":[18446744073709551614,18446744073709551615,0,1]}`},
		{Acks{"q\"<": {1}}, `{"q\"\u003c":[1]}`},
	} {
		b, err := json.Marshal(tc.acks)
		if err != nil || string(b) != tc.want {
			t.Errorf("%v: encoded %s, %v; want %s", tc.acks, b, err, tc.want)
			continue
		}
		var back Acks
		if err := json.Unmarshal(b, &back); err != nil || !reflect.DeepEqual(back, tc.acks) {
			t.Errorf("%s: read back as %#v, %v; want %#v", b, back, err, tc.acks)
		}
	}
}

// TestAcksDecodeAsEncodingJSON: Acks decode to what encoding/json makes
// of them, and fail where it fails, alone and inside a request.
func TestAcksDecodeAsEncodingJSON(t *testing.T) {
	for _, in := range acksInputs {
		want, wantErr := decodeStd([]byte(in))
		var got Acks
		err := json.Unmarshal([]byte(in), &got)
		if (err != nil) != (wantErr != nil) || err == nil && !reflect.DeepEqual(map[string][]uint64(got), want) {
			t.Errorf("%q: got %#v, %v; want %#v, %v", in, got, err, want, wantErr)
		}
		var tr TransferRequest
		err = json.Unmarshal([]byte(`{"max":5,"acks":`+in+`,"timeout_ms":1}`), &tr)
		if (err != nil) != (wantErr != nil) || err == nil && (!reflect.DeepEqual(map[string][]uint64(tr.Acks), want) || tr.Max != 5) {
			t.Errorf("in a transfer request, %q: got %#v, %v; want %#v, %v", in, tr.Acks, err, want, wantErr)
		}
	}
}

// FuzzAcks: whatever the fast path accepts, encoding/json decodes alike.
func FuzzAcks(f *testing.F) {
	for _, in := range acksInputs {
		f.Add([]byte(in))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		got, ok := parseAcks(b)
		if !ok {
			return
		}
		want, err := decodeStd(b)
		if err != nil || !reflect.DeepEqual(map[string][]uint64(got), want) {
			t.Fatalf("%q: fast path %#v; encoding/json %#v, %v", b, got, want, err)
		}
	})
}

var transferInputs = []string{
	`{}`, `{"timeout_ms":0}`, `{"acks":{"q":[1,2]},"max":1000,"timeout_ms":1000}`, ` {"max":5 , "acks" : {} } `,
	`{"timeout_ms":1,"timeout_ms":2}`,
	// Not the usual form: encoding/json decides.
	`{"Max":5}`, `{"max":-1}`, `{"max":1e3}`, `{"max":"5"}`, `{"acks":null}`, `{"other":1}`, `{"max":5}x`,
	`{"timeout_ms":9223372036854775808}`, `{"max":2147483648}`, `null`, `[]`, `{"max":5,}`,
}

// decodeTransferStd decodes as encoding/json would without
// TransferRequest's own decoder.
func decodeTransferStd(b []byte) (TransferRequest, error) {
	type plain TransferRequest
	var r plain
	err := json.Unmarshal(b, &r)
	return TransferRequest(r), err
}

// TestTransferRequestDecodesAsEncodingJSON: a transfer request decodes to
// what encoding/json makes of it, and fails where it fails.
func TestTransferRequestDecodesAsEncodingJSON(t *testing.T) {
	for _, in := range transferInputs {
		want, wantErr := decodeTransferStd([]byte(in))
		var got TransferRequest
		err := json.Unmarshal([]byte(in), &got)
		if (err != nil) != (wantErr != nil) || err == nil && !reflect.DeepEqual(got, want) {
			t.Errorf("%q: got %+v, %v; want %+v, %v", in, got, err, want, wantErr)
		}
	}
}

// FuzzTransferRequest: whatever the fast path accepts, encoding/json
// decodes alike.
func FuzzTransferRequest(f *testing.F) {
	for _, in := range transferInputs {
		f.Add([]byte(in))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		var got TransferRequest
		if !parseTransfer(b, &got) {
			return
		}
		want, err := decodeTransferStd(b)
		if err != nil || !reflect.DeepEqual(got, want) {
			t.Fatalf("%q: fast path %+v; encoding/json %+v, %v", b, got, want, err)
		}
	})
}
