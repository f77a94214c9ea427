package front

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os/exec"
	"time"

	"msw/internal/tool"
	"msw/internal/tool/catalog"
)

const completionUsage = `Usage: msw completion bash|zsh|fish

Print a completion script for the shell: it completes the commands (msw
send and msw-send alike), their options, the values of options where they
are known, and queue names, which it asks the switch for (at -s/--switch
or MSW_SWITCH; nothing when the switch is down). The options come from
the commands themselves, so install the commands before running this.

  bash:  source <(msw completion bash)        (in ~/.bashrc)
  zsh:   source <(msw completion zsh)         (in ~/.zshrc, after compinit)
  fish:  msw completion fish | source         (in ~/.config/fish/config.fish)

'make install' installs the scripts where each shell looks for them.
`

// specTimeout bounds how long one command may take to describe itself.
const specTimeout = 5 * time.Second

// completion is 'msw completion SHELL'.
func completion(c *tool.Command, args []string) int {
	if len(args) == 1 && (args[0] == "-h" || args[0] == "--help") {
		fmt.Fprint(c.Stdout, completionUsage)
		return tool.ExitOK
	}
	if len(args) != 1 {
		return c.UsageError("completion: want one shell: bash, zsh or fish")
	}
	writers := map[string]func(io.Writer, []tool.Spec){"bash": writeBash, "zsh": writeZsh, "fish": writeFish}
	write, ok := writers[args[0]]
	if !ok {
		return c.UsageError("completion: unknown shell %q: want bash, zsh or fish", args[0])
	}
	specs, err := readSpecs()
	if err != nil {
		return c.Failf("completion: %v", err)
	}
	write(c.Stdout, specs)
	return tool.ExitOK
}

// readSpecs asks each of msw's commands that is installed for its Spec.
// A command that is missing is left out; one that cannot describe itself
// is an error.
func readSpecs() ([]tool.Spec, error) {
	var specs []tool.Spec
	for _, cmd := range catalog.Commands {
		path, err := find(cmd.Name)
		if err != nil {
			continue
		}
		s, err := readSpec(path)
		if err != nil {
			return nil, fmt.Errorf("%s --%s: %v", path, tool.SpecFlag, err)
		}
		specs = append(specs, s)
	}
	if len(specs) == 0 {
		return nil, fmt.Errorf("none of msw's commands found next to msw or on PATH")
	}
	return specs, nil
}

// readSpec runs the command at path with --msw-spec and reads its Spec.
func readSpec(path string) (tool.Spec, error) {
	ctx, cancel := context.WithTimeout(context.Background(), specTimeout)
	defer cancel()
	var stderr bytes.Buffer
	cmd := exec.CommandContext(ctx, path, "--"+tool.SpecFlag)
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return tool.Spec{}, fmt.Errorf("%v: %s", err, bytes.TrimSpace(stderr.Bytes()))
	}
	var s tool.Spec
	if err := json.Unmarshal(out, &s); err != nil {
		return tool.Spec{}, fmt.Errorf("bad description: %v", err)
	}
	return s, nil
}
