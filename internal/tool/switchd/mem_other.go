//go:build !linux

package switchd

// physicalMemory is the machine's memory in bytes, 0 if unknown.
func physicalMemory() int64 { return 0 }
