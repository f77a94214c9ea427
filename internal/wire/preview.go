package wire

import "unicode/utf8"

// Preview is how a trace event or a diagnostics snapshot shows a
// payload: its first PreviewLen bytes, escaped as Escape does.
func Preview(payload []byte) string {
	return Escape(payload[:min(len(payload), PreviewLen)])
}

// Escape renders bytes as one line of text: valid UTF-8 is kept, newline
// and tab become \n and \t, other control characters and each byte of
// invalid UTF-8 become \xHH. Tools that show payloads use it to show them
// as the switch's previews do.
func Escape(b []byte) string {
	const hex = "0123456789abcdef"
	out := make([]byte, 0, len(b))
	for len(b) > 0 {
		r, n := utf8.DecodeRune(b)
		switch {
		case r == utf8.RuneError && n <= 1:
			out = append(out, '\\', 'x', hex[b[0]>>4], hex[b[0]&15])
		case r == '\n':
			out = append(out, '\\', 'n')
		case r == '\t':
			out = append(out, '\\', 't')
		case r < 0x20 || r == 0x7f:
			out = append(out, '\\', 'x', hex[r>>4], hex[r&15])
		default:
			out = append(out, b[:n]...)
		}
		b = b[n:]
	}
	return string(out)
}
