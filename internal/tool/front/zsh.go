package front

import (
	"fmt"
	"io"
	"strings"

	"msw/internal/tool"
)

// zshLibrary is the fixed part of the zsh script.
const zshLibrary = `
# _msw_queues: complete the queue names of the switch named on the
# command line (-s, --switch) or by MSW_SWITCH; nothing when it is down.
_msw_queues() {
	local addr=${MSW_SWITCH-} i
	for ((i = 1; i < CURRENT; i++)); do
		case ${words[i]} in
		-s|--switch) addr=${words[i+1]} ;;
		--switch=*) addr=${words[i]#--switch=} ;;
		-s?*) addr=${words[i]#-s} ;;
		esac
	done
	local -a cmd queues
	cmd=(msw-ls --all --wait 0)
	[[ -n $addr ]] && cmd+=(--switch "$addr")
	if (( $+commands[timeout] )); then cmd=(timeout 2 $cmd); fi
	queues=(${(f)"$($cmd 2>/dev/null)"})
	compadd -a queues
}

# _msw completes 'msw COMMAND ARGS': a command name, then the command's
# own completion.
_msw() {
	if (( CURRENT == 2 )); then
		local -a cmds plugins
		cmds=(%s)
		plugins=(${${(k)commands[(I)msw-*]}#msw-})
		_describe -t commands 'msw command' cmds
		compadd -a plugins
		return
	fi
	local tool=msw-${words[2]}
	case ${words[2]} in
	help) local -a names; names=(${${(k)commands[(I)msw-*]}#msw-}); compadd -a names; return ;;
	completion) compadd bash zsh fish; return ;;
	esac
	shift words
	(( CURRENT-- ))
	words[1]=$tool
	local fn=_${tool//-/_}
	(( $+functions[$fn] )) && $fn
}
`

// writeZsh prints the zsh completion script for specs.
func writeZsh(w io.Writer, specs []tool.Spec) {
	fmt.Fprintf(w, "#compdef msw")
	for _, s := range specs {
		fmt.Fprintf(w, " %s", s.Name)
	}
	fmt.Fprintf(w, "\n# zsh completion for msw and its commands, made by 'msw completion zsh'\n")
	fmt.Fprintf(w, "# from the commands' own options. Load it after compinit: source <(msw completion zsh)\n")
	var cmds []string
	for _, s := range specs {
		cmds = append(cmds, shellQuote(strings.TrimPrefix(s.Name, "msw-")+":"+summaryOf(s.Name)))
	}
	fmt.Fprintf(w, zshLibrary, strings.Join(cmds, " "))
	for _, s := range specs {
		fmt.Fprintf(w, "\n_%s() {\n\t_arguments -s -S \\\n", strings.ReplaceAll(s.Name, "-", "_"))
		for _, o := range s.Options {
			fmt.Fprintf(w, "\t\t%s \\\n", zshOption(o))
		}
		for i, k := range s.Operands {
			spec := fmt.Sprintf("%d:%s:%s", i+1, zshWhat(k), zshAction(k))
			if s.Repeat && i == len(s.Operands)-1 {
				spec = fmt.Sprintf("*:%s:%s", zshWhat(k), zshAction(k))
			}
			fmt.Fprintf(w, "\t\t%s \\\n", shellQuote(spec))
		}
		if s.AfterEnd != "" {
			fmt.Fprintf(w, "\t\t%s \\\n", shellQuote("*::program:_normal"))
		}
		fmt.Fprintf(w, "\t\t&& return 0\n}\n")
	}
	fmt.Fprintf(w, "\ncompdef _msw msw\n")
	for _, s := range specs {
		fmt.Fprintf(w, "compdef _%s %s\n", strings.ReplaceAll(s.Name, "-", "_"), s.Name)
	}
	// Installed in fpath as _msw, the file is the body of the function
	// _msw that compinit calls for any of the commands: having defined
	// the functions above, it completes the command asked for.
	fmt.Fprintf(w, "if [[ $funcstack[1] == _msw ]]; then\n\t_${service//-/_} \"$@\"\nfi\n")
}

// zshOption is one option's _arguments spec, such as
// '(-l --lines)'{-l,--lines}'[each line is a message]'.
func zshOption(o tool.SpecOption) string {
	desc := "[" + zshEscape(o.Usage) + "]"
	value := ""
	if o.Arg != "" {
		action := zshAction(o.Complete)
		if len(o.Words) > 0 {
			action = "(" + strings.Join(o.Words, " ") + ")"
		}
		value = ":" + strings.ToLower(o.Arg) + ":" + action
	}
	repeat := ""
	if strings.Contains(o.Usage, "repeatable") {
		repeat = "*"
	}
	if o.Short == "" {
		eq := ""
		if o.Arg != "" {
			eq = "="
		}
		return shellQuote(repeat + "--" + o.Long + eq + desc + value)
	}
	sSuffix, lSuffix := "", ""
	if o.Arg != "" {
		sSuffix, lSuffix = "+", "="
	}
	excl := "(-" + o.Short + " --" + o.Long + ")"
	if repeat != "" {
		excl = "*"
	}
	return shellQuote(excl) + "{-" + o.Short + sSuffix + ",--" + o.Long + lSuffix + "}" + shellQuote(desc+value)
}

// zshWhat names a completion kind in zsh's messages.
func zshWhat(kind string) string {
	if kind == "" {
		return "argument"
	}
	return kind
}

// zshAction is how zsh completes a kind of value.
func zshAction(kind string) string {
	switch kind {
	case tool.CompleteQueue:
		return "_msw_queues"
	case tool.CompleteFile:
		return "_files"
	case tool.CompleteCommand:
		return "_command_names -e"
	}
	return " "
}

// zshEscape escapes what _arguments reads specially in a description.
func zshEscape(s string) string {
	return strings.NewReplacer(`\`, `\\`, "[", `\[`, "]", `\]`, ":", `\:`).Replace(s)
}
