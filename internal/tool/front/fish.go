package front

import (
	"fmt"
	"io"
	"strings"

	"msw/internal/tool"
)

// fishLibrary is the fixed part of the fish script.
const fishLibrary = `
# __msw_queues: the queue names of the switch named on the command line
# (-s, --switch) or by MSW_SWITCH; nothing when it is down.
function __msw_queues
    set -l addr $MSW_SWITCH
    set -l toks (commandline -opc)
    for i in (seq (count $toks))
        switch $toks[$i]
            case -s --switch
                set -l j (math $i + 1)
                if test $j -le (count $toks)
                    set addr $toks[$j]
                end
            case '--switch=*'
                set addr (string replace -- --switch= '' $toks[$i])
        end
    end
    set -l cmd msw-ls --all --wait 0
    if test -n "$addr"
        set cmd $cmd --switch $addr
    end
    if type -q timeout
        set cmd timeout 2 $cmd
    end
    $cmd 2>/dev/null
end

# __msw_using NAME: whether the command line is 'msw NAME ...'.
function __msw_using
    set -l toks (commandline -opc)
    test (count $toks) -ge 2; and test $toks[2] = $argv[1]
end

function __msw_plugins
    for c in (complete -C 'msw-' | string match -r '^msw-[^\t]*')
        string replace msw- '' $c
    end
end

complete -c msw -f
complete -c msw -n __fish_use_subcommand -a help -d 'list the commands, or show one'"'"'s help'
complete -c msw -n __fish_use_subcommand -a completion -d 'print a shell completion script'
complete -c msw -n __fish_use_subcommand -a '(__msw_plugins)'
complete -c msw -n '__msw_using completion' -a 'bash zsh fish'
complete -c msw -n '__msw_using help' -a '(__msw_plugins)'
`

// writeFish prints the fish completion script for specs.
func writeFish(w io.Writer, specs []tool.Spec) {
	fmt.Fprintf(w, "# fish completion for msw and its commands, made by 'msw completion fish'\n")
	fmt.Fprintf(w, "# from the commands' own options. Load it: msw completion fish | source\n")
	fmt.Fprint(w, fishLibrary)
	for _, s := range specs {
		short := strings.TrimPrefix(s.Name, "msw-")
		fmt.Fprintf(w, "\n# %s\n", s.Name)
		fmt.Fprintf(w, "complete -c msw -n __fish_use_subcommand -a %s -d %s\n", short, shellQuote(summaryOf(s.Name)))
		// Each line twice: for msw-NAME, and for msw NAME.
		targets := []string{"complete -c " + s.Name, "complete -c msw -n " + shellQuote("__msw_using "+short)}
		for _, t := range targets {
			fmt.Fprintf(w, "%s -f\n", t)
			for _, o := range s.Options {
				line := t
				if o.Short != "" {
					line += " -s " + o.Short
				}
				line += " -l " + o.Long
				if o.Arg != "" {
					if o.Complete == tool.CompleteFile {
						line += " -r -F"
					} else {
						line += " -x" // a value follows, and it is no file
					}
					switch {
					case len(o.Words) > 0:
						line += " -a " + shellQuote(strings.Join(o.Words, " "))
					case o.Complete == tool.CompleteQueue:
						line += " -a '(__msw_queues)'"
					case o.Complete == tool.CompleteCommand:
						line += " -a '(__fish_complete_command)'"
					}
				}
				fmt.Fprintf(w, "%s -d %s\n", line, shellQuote(o.Usage))
			}
			for _, k := range s.Operands {
				if k == tool.CompleteQueue {
					fmt.Fprintf(w, "%s -a '(__msw_queues)'\n", t)
					break
				}
			}
		}
	}
}
