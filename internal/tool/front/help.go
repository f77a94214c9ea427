package front

import (
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"msw/internal/tool"
	"msw/internal/tool/catalog"
)

const helpHead = `Usage: msw COMMAND [ARGS...]
       msw help [COMMAND]
       msw completion bash|zsh|fish

msw runs the message switch's commands: 'msw send ARGS' runs msw-send
with ARGS (found next to msw, else on PATH), passing its streams, signals
and exit status through. Any msw-NAME program on PATH runs as 'msw NAME'.
`

const helpTail = `
Every command takes -h. See msw(1), and msw(7) for the concepts and recipes.
`

// writeHelp prints msw's help: the built-in commands with what they do,
// then the plugins found on PATH.
func writeHelp(w io.Writer) int {
	fmt.Fprint(w, helpHead)
	fmt.Fprintf(w, "\nCommands:\n")
	for _, cmd := range catalog.Commands {
		writeEntry(w, short(cmd.Name), cmd.Summary)
	}
	writeEntry(w, "help", "list the commands, or show one's help: msw help send")
	writeEntry(w, "completion", "print a completion script: source <(msw completion bash)")
	if plugins := findPlugins(); len(plugins) > 0 {
		fmt.Fprintf(w, "\nPlugins (msw-* programs on PATH):\n")
		for _, p := range plugins {
			writeEntry(w, short(filepath.Base(p)), p)
		}
	}
	fmt.Fprint(w, helpTail)
	return tool.ExitOK
}

func writeEntry(w io.Writer, name, what string) {
	fmt.Fprintf(w, "  %-11s %s\n", name, what)
}

// short is the name msw knows a command by: msw-send is send.
func short(bin string) string { return strings.TrimPrefix(bin, "msw-") }

// isBuiltin reports whether bin (msw-send) is one of msw's own commands.
func isBuiltin(bin string) bool {
	return slices.ContainsFunc(catalog.Commands, func(c catalog.Command) bool { return c.Name == bin })
}

// findPlugins lists the msw-* programs next to msw and on PATH that are
// not msw's own commands, each once (the first found), by name.
func findPlugins() []string {
	seen := map[string]bool{}
	var found []string
	dirs := append([]string{ownDir()}, filepath.SplitList(os.Getenv("PATH"))...)
	for _, dir := range dirs {
		if dir == "" {
			continue
		}
		matches, _ := filepath.Glob(filepath.Join(dir, "msw-*"))
		for _, p := range matches {
			bin := filepath.Base(p)
			if seen[bin] || isBuiltin(bin) || !isExecutable(p) {
				continue
			}
			seen[bin] = true
			found = append(found, p)
		}
	}
	slices.SortFunc(found, func(a, b string) int { return strings.Compare(filepath.Base(a), filepath.Base(b)) })
	return found
}

// commandNames lists every name 'msw NAME' knows: the commands, help,
// completion and the plugins.
func commandNames() []string {
	var names []string
	for _, cmd := range catalog.Commands {
		names = append(names, short(cmd.Name))
	}
	names = append(names, "help", "completion")
	for _, p := range findPlugins() {
		names = append(names, short(filepath.Base(p)))
	}
	return names
}

// nearest returns the name closest to typed if it is close enough to be
// a typo of it (two edits, one for short names), else a name that typed
// begins, else "".
func nearest(typed string, names []string) string {
	best, bestDist := "", 2
	if len(typed) <= 3 {
		bestDist = 1
	}
	bestDist++
	for _, n := range names {
		if d := editDistance(typed, n); d < bestDist {
			best, bestDist = n, d
		}
	}
	if best != "" || len(typed) < 2 {
		return best
	}
	for _, n := range names {
		if strings.HasPrefix(n, typed) {
			return n
		}
	}
	return ""
}

// editDistance is the Levenshtein distance between a and b, counting a
// swap of two neighbours as one edit.
func editDistance(a, b string) int {
	ra, rb := []rune(a), []rune(b)
	d := make([][]int, len(ra)+1)
	for i := range d {
		d[i] = make([]int, len(rb)+1)
		d[i][0] = i
	}
	for j := range rb {
		d[0][j+1] = j + 1
	}
	for i := 1; i <= len(ra); i++ {
		for j := 1; j <= len(rb); j++ {
			cost := 1
			if ra[i-1] == rb[j-1] {
				cost = 0
			}
			d[i][j] = min(d[i-1][j]+1, d[i][j-1]+1, d[i-1][j-1]+cost)
			if i > 1 && j > 1 && ra[i-1] == rb[j-2] && ra[i-2] == rb[j-1] {
				d[i][j] = min(d[i][j], d[i-2][j-2]+1)
			}
		}
	}
	return d[len(ra)][len(rb)]
}

// summaryOf is what the command bin does, in one line.
func summaryOf(bin string) string {
	for _, c := range catalog.Commands {
		if c.Name == bin {
			return c.Summary
		}
	}
	return ""
}
