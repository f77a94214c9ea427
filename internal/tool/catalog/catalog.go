// Package catalog names the msw commands and says in one line what each
// does, as its man page's NAME section does (a test holds the two
// together). It imports nothing, so that the msw front door can list the
// commands without linking any of them.
package catalog

// Command is one msw command: the name of its binary and what it does.
type Command struct {
	Name    string
	Summary string
}

// Commands lists the commands msw runs as 'msw NAME', the switch first.
var Commands = []Command{
	{"msw-switch", "the msw message switch: named queues over HTTP"},
	{"msw-send", "send standard input to a queue of a message switch"},
	{"msw-recv", "take messages from queues of a message switch and write them out"},
	{"msw-call", "send a request to a service on a message switch and print its reply"},
	{"msw-serve", "serve requests on a queue of a message switch with a program"},
	{"msw-ls", "list the queues of a message switch"},
	{"msw-diag", "explain what a message switch holds: who is stuck, who waits"},
	{"msw-tail", "print, follow or draw a message switch's trace"},
	{"msw-rm", "destroy message switch queues"},
	{"msw-ack", "acknowledge message switch messages by hand"},
	{"msw-pub", "publish messages to a topic of the message switch"},
	{"msw-sub", "print what is published to topics of the message switch"},
	{"msw-bind", "bind a queue of the message switch to topic patterns"},
	{"msw-unbind", "remove bindings of a queue to topic patterns"},
	{"msw-mkq", "create message switch queues, and set their policies"},
}

// FrontDoor is the name of the command that runs the others.
const FrontDoor = "msw"

// FrontDoorSummary is what the front door does.
const FrontDoorSummary = "run the msw message switch tools: msw send, msw recv, ..."
