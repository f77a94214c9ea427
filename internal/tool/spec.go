package tool

import (
	"encoding/json"
	"strings"

	"github.com/spf13/pflag"
)

// SpecFlag is the hidden option that makes a command print its Spec
// instead of running: how the msw front door learns each command's
// options for shell completion without keeping a copy of them.
const SpecFlag = "msw-spec"

// Spec describes a command's command line, for shell completion.
type Spec struct {
	Name     string       `json:"name"`
	Synopsis []string     `json:"synopsis"` // the Usage lines, "msw-recv [options] QUEUE..."
	Operands []string     `json:"operands"` // what each operand is (a Complete kind); the last repeats if Repeat
	Repeat   bool         `json:"repeat"`
	AfterEnd string       `json:"after_end,omitempty"` // what follows "--": "command" for msw-serve
	Options  []SpecOption `json:"options"`
}

// SpecOption is one option of a Spec.
type SpecOption struct {
	Long     string   `json:"long"`
	Short    string   `json:"short,omitempty"`
	Arg      string   `json:"arg,omitempty"` // the name of its value; empty for a switch such as -v
	Usage    string   `json:"usage"`
	Complete string   `json:"complete,omitempty"` // how to complete its value: "queue", "file", "command"
	Words    []string `json:"words,omitempty"`    // values it takes by name ("forever")
}

// Completion kinds of values and operands.
const (
	CompleteQueue   = "queue"
	CompleteFile    = "file"
	CompleteCommand = "command"
)

// spec builds the command's Spec from its usage text and flag set.
func (c *Command) spec() Spec {
	s := Spec{Name: c.Name, Operands: []string{}, Options: []SpecOption{}}
	for line := range strings.Lines(strings.TrimLeft(c.usageText, "\n")) {
		line = strings.TrimSpace(strings.TrimPrefix(line, "Usage:"))
		if !strings.HasPrefix(line, c.Name) {
			break
		}
		s.Synopsis = append(s.Synopsis, line)
	}
	if len(s.Synopsis) > 0 {
		s.Operands, s.Repeat, s.AfterEnd = operandKinds(s.Synopsis[0])
	}
	s.Options = append(s.Options, SpecOption{Long: "help", Short: "h", Usage: "show the help"})
	c.Flags.VisitAll(func(f *pflag.Flag) {
		if f.Hidden {
			return
		}
		arg, usage := pflag.UnquoteUsage(f)
		o := SpecOption{Long: f.Name, Short: f.Shorthand, Usage: usage}
		if f.NoOptDefVal == "" {
			o.Arg = strings.ToUpper(arg)
			o.Complete = kindOf(o.Arg)
		}
		if _, ok := f.Value.(*WaitValue); ok {
			o.Words = []string{"forever"}
		}
		s.Options = append(s.Options, o)
	})
	return s
}

// operandKinds reads a synopsis line ("msw-ack [options] QUEUE ID...")
// for the completion kind of each operand, whether the last repeats, and
// what follows "--".
func operandKinds(synopsis string) (kinds []string, repeat bool, afterEnd string) {
	kinds = []string{}
	words := strings.Fields(synopsis)[1:]
	for i, w := range words {
		if w == "--" {
			if i+1 < len(words) {
				afterEnd = kindOf(words[i+1])
			}
			break
		}
		if strings.HasPrefix(w, "[-") || strings.HasPrefix(w, "-") || w == "[options]" {
			continue
		}
		repeat = strings.HasSuffix(w, "...") || strings.HasSuffix(w, "...]")
		kinds = append(kinds, kindOf(strings.Trim(w, "[].")))
	}
	return kinds, repeat, afterEnd
}

// kindOf is how to complete a value or operand by the name the usage
// text gives it.
func kindOf(name string) string {
	switch strings.Trim(name, "[].") {
	case "QUEUE", "PREFIX":
		return CompleteQueue
	case "PATH", "FILE":
		return CompleteFile
	case "COMMAND", "PROG":
		return CompleteCommand
	}
	return ""
}

// writeSpec prints the command's Spec as JSON on standard output.
func (c *Command) writeSpec() {
	b, _ := json.Marshal(c.spec())
	c.Stdout.Write(append(b, '\n'))
}
