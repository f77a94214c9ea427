package tool

import (
	"fmt"
	"io"
	"strings"

	"github.com/spf13/pflag"

	"msw/internal/version"
)

// OptionGroup is a titled group of options in a command's -h text. Each
// entry of Flags is an option's long name; its short one, if any, is
// shown beside it.
type OptionGroup struct {
	Title string
	Flags []string
}

// Group is an OptionGroup: a title and the options under it.
func Group(title string, flags ...string) OptionGroup {
	return OptionGroup{Title: title, Flags: flags}
}

// SwitchGroup lists the options SwitchFlags registers.
var SwitchGroup = Group("Switch", "switch", "token-file", "tls-ca", "wait", "client-id")

// writeUsage prints the -h text: the command's usage text, its options
// group by group, then -h and --version, the exit codes and the version.
func (c *Command) writeUsage(groups []OptionGroup) {
	w := c.Stdout
	fmt.Fprint(w, strings.TrimLeft(c.usageText, "\n"))
	writeOptionGroups(w, c.Flags, groups)
	fmt.Fprintf(w, "\nExit status: 0 success, 1 failure, 2 usage error, 69 switch unreachable, 124 timeout,\n130 interrupted (Ctrl-C).\n")
	fmt.Fprintf(w, "See %s(1). This is %s %s.\n", c.Name, c.Name, version.String())
}

// writeOptionGroups prints the options of fs group by group, as
// "  -s, --switch ADDRESS    usage (default ...)".
// Options left out of every group are listed after them, under "Other";
// -h and --version come last, under "Help".
func writeOptionGroups(w io.Writer, fs *pflag.FlagSet, groups []OptionGroup) {
	listed := map[string]bool{"version": true}
	for _, g := range groups {
		for _, name := range g.Flags {
			listed[name] = true
		}
	}
	var other []string
	fs.VisitAll(func(f *pflag.Flag) {
		if !listed[f.Name] && !f.Hidden {
			other = append(other, f.Name)
		}
	})
	if len(other) > 0 {
		groups = append(groups[:len(groups):len(groups)], Group("Other", other...))
	}
	for _, g := range groups {
		fmt.Fprintf(w, "\n%s:\n", g.Title)
		for _, name := range g.Flags {
			if f := fs.Lookup(name); f != nil {
				writeOption(w, f)
			}
		}
	}
	fmt.Fprintf(w, "\nHelp:\n")
	writeOptionLine(w, "-h, --help", "show this help")
	writeOptionLine(w, "--version", "print the command's name and version, and exit")
}

// writeOption prints one option: its names, the name of its argument,
// its usage and its default.
func writeOption(w io.Writer, f *pflag.Flag) {
	arg, usage := pflag.UnquoteUsage(f)
	if f.NoOptDefVal != "" {
		arg = "" // a switch such as -v: it takes no value
	}
	var left strings.Builder
	if f.Shorthand != "" {
		left.WriteString("-" + f.Shorthand + ", ")
	}
	left.WriteString("--" + f.Name)
	if arg != "" {
		left.WriteString(" " + strings.ToUpper(arg))
	}
	if def := f.DefValue; def != "" && def != "false" && def != "0" && def != "0s" {
		usage += " (default " + def + ")"
	}
	writeOptionLine(w, left.String(), usage)
}

// writeOptionLine prints option names in a column of 22 and their usage
// beside them, wrapped to 79 columns.
func writeOptionLine(w io.Writer, left, usage string) {
	const indent = "                          "
	lines := wrapWords(usage, 79-len(indent))
	if len(left) <= 22 {
		fmt.Fprintf(w, "  %-22s  %s\n", left, lines[0])
	} else {
		fmt.Fprintf(w, "  %s\n%s%s\n", left, indent, lines[0])
	}
	for _, l := range lines[1:] {
		fmt.Fprintf(w, "%s%s\n", indent, l)
	}
}

// wrapWords splits text into lines of at most width bytes where it can,
// breaking at spaces.
func wrapWords(text string, width int) []string {
	var lines []string
	line := ""
	for _, word := range strings.Fields(text) {
		if line != "" && len(line)+1+len(word) > width {
			lines = append(lines, line)
			line = ""
		}
		if line != "" {
			line += " "
		}
		line += word
	}
	return append(lines, line)
}
