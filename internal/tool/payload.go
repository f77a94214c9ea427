package tool

import (
	"bytes"
	"encoding/json"
	"fmt"
	"regexp"
	"strings"
	"unicode/utf8"
)

var (
	rpcMethodRe = regexp.MustCompile(`"method"\s*:\s*"((?:[^"\\]|\\.)*)"`)
	rpcParamsRe = regexp.MustCompile(`"params"\s*:\s*(.*)$`)
)

// SummarizePayload renders a payload on one line. text is the payload as escaped
// text (a preview, or all of it); size is its length in bytes and cut says
// that text is only its start. A JSON-RPC request shows as
// method(params), a JSON-RPC response as result or error. Anything longer
// than width characters is cut with "…" (width < 0: never).
func SummarizePayload(text string, size int, cut bool, width int) string {
	if size == 0 {
		return "(empty)"
	}
	s := text
	if t := strings.TrimSpace(text); strings.HasPrefix(t, "{") {
		if rpc, ok := jsonRPC(t, cut); ok {
			s = rpc
		}
	}
	if width >= 0 && utf8.RuneCountInString(s) > width {
		s = string([]rune(s)[:width])
		cut = true
	}
	if cut {
		return fmt.Sprintf("%s… (%d bytes)", s, size)
	}
	return s
}

// jsonRPC recognises a JSON-RPC request or response, whole or cut.
func jsonRPC(t string, cut bool) (string, bool) {
	var msg struct {
		Method string          `json:"method"`
		Params json.RawMessage `json:"params"`
		Result json.RawMessage `json:"result"`
		Error  json.RawMessage `json:"error"`
	}
	if !cut && json.Unmarshal([]byte(t), &msg) == nil {
		switch {
		case msg.Method != "":
			return fmt.Sprintf("%s(%s)", msg.Method, compactJSON(msg.Params)), true
		case msg.Error != nil && string(msg.Error) != "null":
			return "error " + compactJSON(msg.Error), true
		case msg.Result != nil:
			return "result " + compactJSON(msg.Result), true
		}
		return "", false
	}
	m := rpcMethodRe.FindStringSubmatch(t)
	if m == nil {
		return "", false
	}
	s := m[1] + "("
	if p := rpcParamsRe.FindStringSubmatch(t); p != nil {
		rest := strings.TrimSpace(p[1])
		if !cut {
			rest = strings.TrimSpace(strings.TrimSuffix(rest, "}"))
		}
		s += rest
	}
	if !cut {
		s += ")"
	}
	return s, true
}

func compactJSON(raw json.RawMessage) string {
	var b bytes.Buffer
	if len(raw) == 0 {
		return ""
	}
	if err := json.Compact(&b, raw); err != nil {
		return string(raw)
	}
	return b.String()
}
