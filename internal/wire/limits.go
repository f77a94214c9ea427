package wire

// Limits every party to the protocol agrees on.
const (
	// MaxFieldLen bounds correlation ids and client ids, in bytes.
	MaxFieldLen = 1024
	// PreviewLen is how many payload bytes a trace event or a diagnostics
	// snapshot shows of a message.
	PreviewLen = 64
)
