package front

import (
	"fmt"
	"io"
	"strings"

	"msw/internal/tool"
)

// bashLibrary is the fixed part of the bash script: it splits the
// command line itself (bash's own words break at '=' and ':', which
// addresses and --opt=value contain), walks the words already typed
// against the command's options, and completes the last one as an
// option, an option's value or an operand.
const bashLibrary = `
# _msw_queues ADDR: the queue names of the switch at ADDR (MSW_SWITCH or
# the default when empty); nothing when it is down.
_msw_queues() {
	local -a cmd=(msw-ls --all --wait 0)
	[[ -n $1 ]] && cmd+=(--switch "$1")
	if command -v timeout >/dev/null 2>&1; then
		timeout 2 "${cmd[@]}" 2>/dev/null
	else
		"${cmd[@]}" 2>/dev/null
	fi
}

# _msw_value KIND CUR ADDR: completions of an option's value or an operand.
_msw_value() {
	case $1 in
	queue) compgen -W "$(_msw_queues "$3")" -- "$2" ;;
	file) compopt -o filenames 2>/dev/null; compgen -f -- "$2" ;;
	command) compgen -c -- "$2" ;;
	w:*) local words=${1#w:}; compgen -W "${words//,/ }" -- "$2" ;;
	esac
}

# _msw_takes NAME: whether option NAME (short or long) of the current
# command takes a value; sets _msw_long and _msw_kind if it does.
_msw_takes() {
	local entry
	for entry in "${_msw_vals[@]}"; do
		if [[ ${entry%% *} == "$1" ]]; then
			entry=${entry#* }
			_msw_long=${entry%% *}
			_msw_kind=${entry#* }
			[[ $_msw_kind == - ]] && _msw_kind=
			return 0
		fi
	done
	return 1
}

# _msw_complete_words TOOL FIRST: complete _msw_words (the command line
# split at blanks) for TOOL, whose arguments start at index FIRST.
_msw_complete_words() {
	local tool=$1 i=$2 last=$((${#_msw_words[@]} - 1))
	local cur=${_msw_words[last]} w j c expect= expect_kind= ended=0 n=0 addr=${MSW_SWITCH-}
	local _msw_opts _msw_long _msw_kind _msw_operands _msw_repeat _msw_after_end
	local -a _msw_vals
	_msw_spec "$tool" || return 0
	for ((; i < last; i++)); do
		w=${_msw_words[i]}
		if [[ -n $expect ]]; then
			[[ $expect == switch ]] && addr=$w
			expect=
			continue
		fi
		if ((ended)); then
			((n++))
			continue
		fi
		case $w in
		--) ended=1 n=0 ;;
		--*=*) [[ ${w%%=*} == --switch ]] && addr=${w#*=} ;;
		--?*) _msw_takes "${w#--}" && expect=$_msw_long expect_kind=$_msw_kind ;;
		-?*)
			for ((j = 1; j < ${#w}; j++)); do
				c=${w:j:1}
				if _msw_takes "$c"; then
					if ((j + 1 < ${#w})); then
						[[ $_msw_long == switch ]] && addr=${w:j+1}
					else
						expect=$_msw_long expect_kind=$_msw_kind
					fi
					break
				fi
			done
			;;
		*) ((n++)) ;;
		esac
	done
	local -a reply=()
	local prefix=
	if [[ -n $expect ]]; then
		mapfile -t reply < <(_msw_value "$expect_kind" "$cur" "$addr")
	elif ((!ended)) && [[ $cur == --*=* ]]; then
		w=${cur%%=*}
		if _msw_takes "${w#--}"; then
			prefix=${cur%%=*}=
			mapfile -t reply < <(_msw_value "$_msw_kind" "${cur#*=}" "$addr")
		fi
	elif ((!ended)) && [[ $cur == -* ]]; then
		mapfile -t reply < <(compgen -W "$_msw_opts" -- "$cur")
	elif ((ended)); then
		if ((n == 0)) && [[ -n $_msw_after_end ]]; then
			mapfile -t reply < <(_msw_value "$_msw_after_end" "$cur" "$addr")
		else
			mapfile -t reply < <(_msw_value file "$cur" "$addr")
		fi
	else
		local -a kinds=($_msw_operands)
		local kind=
		if ((n < ${#kinds[@]})); then
			kind=${kinds[n]}
		elif ((_msw_repeat && ${#kinds[@]} > 0)); then
			kind=${kinds[${#kinds[@]} - 1]}
		fi
		[[ $kind == - ]] && kind=
		[[ -n $kind ]] && mapfile -t reply < <(_msw_value "$kind" "$cur" "$addr")
	fi
	# Bash replaces only its own last word, which starts after the last
	# '=' or ':' of ours: drop what comes before it from each reply.
	local bcur=${COMP_WORDS[COMP_CWORD]} cut=0
	if [[ $cur != "$bcur" && $cur == *"$bcur" ]]; then
		cut=$((${#cur} - ${#bcur}))
	fi
	COMPREPLY=()
	for w in "${reply[@]}"; do
		w=$prefix$w
		COMPREPLY+=("${w:cut}")
	done
}

# _msw_split: the command line up to the cursor, split at blanks.
_msw_split() {
	local line=${COMP_LINE:0:COMP_POINT}
	read -ra _msw_words <<<"$line"
	if [[ ${#_msw_words[@]} -eq 0 || $line == *[[:space:]] ]]; then
		_msw_words+=("")
	fi
}

# _msw completes 'msw COMMAND ARGS'.
_msw() {
	local -a _msw_words
	_msw_split
	local cur=${_msw_words[${#_msw_words[@]} - 1]}
	if ((${#_msw_words[@]} == 2)) || [[ ${#_msw_words[@]} -eq 3 && ${_msw_words[1]} == help ]]; then
		local names
		names="help completion $(compgen -c msw- | sed 's/^msw-//' | sort -u | tr '\n' ' ')"
		mapfile -t COMPREPLY < <(compgen -W "$names" -- "$cur")
	elif [[ ${#_msw_words[@]} -eq 3 && ${_msw_words[1]} == completion ]]; then
		mapfile -t COMPREPLY < <(compgen -W "bash zsh fish" -- "$cur")
	else
		_msw_complete_words "msw-${_msw_words[1]}" 2
	fi
}

# _msw_command completes 'msw-COMMAND ARGS'.
_msw_command() {
	local -a _msw_words
	_msw_split
	_msw_complete_words "${_msw_words[0]##*/}" 1
}
`

// writeBash prints the bash completion script for specs.
func writeBash(w io.Writer, specs []tool.Spec) {
	fmt.Fprintf(w, "# bash completion for msw and its commands, made by 'msw completion bash'\n")
	fmt.Fprintf(w, "# from the commands' own options. Load it: source <(msw completion bash)\n")
	fmt.Fprint(w, bashLibrary)
	fmt.Fprintf(w, "\n# _msw_spec TOOL: what TOOL takes.\n_msw_spec() {\n\tcase $1 in\n")
	var names []string
	for _, s := range specs {
		names = append(names, s.Name)
		var opts, vals []string
		for _, o := range s.Options {
			opts = append(opts, "--"+o.Long)
			if o.Short != "" {
				opts = append(opts, "-"+o.Short)
			}
			if o.Arg == "" {
				continue
			}
			kind := o.Complete
			if len(o.Words) > 0 {
				kind = "w:" + strings.Join(o.Words, ",")
			}
			if kind == "" {
				kind = "-"
			}
			vals = append(vals, shellQuote(o.Long+" "+o.Long+" "+kind))
			if o.Short != "" {
				vals = append(vals, shellQuote(o.Short+" "+o.Long+" "+kind))
			}
		}
		operands := make([]string, len(s.Operands))
		for i, k := range s.Operands {
			operands[i] = k
			if k == "" {
				operands[i] = "-"
			}
		}
		repeat := 0
		if s.Repeat {
			repeat = 1
		}
		fmt.Fprintf(w, "\t%s)\n", s.Name)
		fmt.Fprintf(w, "\t\t_msw_opts=%s\n", shellQuote(strings.Join(opts, " ")))
		fmt.Fprintf(w, "\t\t_msw_vals=(%s)\n", strings.Join(vals, " "))
		fmt.Fprintf(w, "\t\t_msw_operands=%s _msw_repeat=%d _msw_after_end=%s\n\t\t;;\n",
			shellQuote(strings.Join(operands, " ")), repeat, shellQuote(s.AfterEnd))
	}
	fmt.Fprintf(w, "\t*) return 1 ;;\n\tesac\n}\n\n")
	fmt.Fprintf(w, "complete -F _msw msw\ncomplete -F _msw_command %s\n", strings.Join(names, " "))
}

// shellQuote quotes s for sh in single quotes.
func shellQuote(s string) string {
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}
