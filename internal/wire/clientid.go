package wire

import "strconv"

// ClientID is the name a client logs in with unless it is given one:
// "program[pid]@host", as diagnostics and traces show clients. The switch
// takes any client id of at most MaxFieldLen bytes; this form only makes
// the default one tell where the client runs.
func ClientID(program string, pid int, host string) string {
	return program + "[" + strconv.Itoa(pid) + "]@" + host
}
