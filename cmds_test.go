package msw_test

import (
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"msw/internal/tool/catalog"
	"msw/internal/tool/registry"
)

// cmdDirs lists the commands in cmd/.
func cmdDirs(t *testing.T) []string {
	t.Helper()
	entries, err := os.ReadDir("cmd")
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range entries {
		if e.IsDir() && (e.Name() == "msw" || strings.HasPrefix(e.Name(), "msw-")) {
			names = append(names, e.Name())
		}
	}
	if len(names) == 0 {
		t.Fatal("no command found in cmd/")
	}
	return names
}

// TestRegistryMatchesCmd holds the registry the test binary acts from to
// the commands that are built: a tool added to one and not the other
// fails here.
func TestRegistryMatchesCmd(t *testing.T) {
	var registered []string
	for _, tool := range registry.Tools {
		if tool.Run == nil {
			t.Errorf("%s: no body", tool.Name)
		}
		registered = append(registered, tool.Name)
	}
	slices.Sort(registered)
	if dirs := cmdDirs(t); !slices.Equal(registered, dirs) {
		t.Fatalf("internal/tool/registry lists %q; cmd/ holds %q", registered, dirs)
	}
}

// TestCatalogMatchesRegistry holds the list the front door knows (with
// no command linked) to the registry, and each summary to the NAME line
// of the command's man page.
func TestCatalogMatchesRegistry(t *testing.T) {
	var names []string
	for _, tool := range registry.Tools[1:] {
		names = append(names, tool.Name)
	}
	var cataloged []string
	front := catalog.Command{Name: catalog.FrontDoor, Summary: catalog.FrontDoorSummary}
	for _, cmd := range append([]catalog.Command{front}, catalog.Commands...) {
		if cmd != front {
			cataloged = append(cataloged, cmd.Name)
		}
		b, err := os.ReadFile(filepath.Join("man", cmd.Name+".1"))
		if err != nil {
			t.Errorf("%s: %v", cmd.Name, err)
			continue
		}
		nameLine := strings.ReplaceAll(cmd.Name, "-", `\-`) + ` \- ` + strings.ReplaceAll(cmd.Summary, "-", `\-`) + "\n"
		if !strings.Contains(string(b), "\n.SH NAME\n"+nameLine) {
			t.Errorf("man/%s.1: NAME is not %q", cmd.Name, nameLine)
		}
	}
	if registry.Tools[0].Name != catalog.FrontDoor || !slices.Equal(names, cataloged) {
		t.Errorf("registry lists %s then %q; catalog lists %q", registry.Tools[0].Name, names, cataloged)
	}
}

// TestEveryCommandHasManPage checks that each command in cmd/ has its
// man page, and that the page documents --version.
func TestEveryCommandHasManPage(t *testing.T) {
	for _, name := range cmdDirs(t) {
		b, err := os.ReadFile(filepath.Join("man", name+".1"))
		if err != nil {
			t.Errorf("%s: no man page: %v", name, err)
			continue
		}
		if !strings.Contains(string(b), `.B \-\-version`) {
			t.Errorf("man/%s.1 does not document --version", name)
		}
	}
}

// TestClientsDoNotLinkSwitch checks that no command but msw-switch links
// the switch (server, broker) or Prometheus: they would make every client
// binary larger and slower to start.
func TestClientsDoNotLinkSwitch(t *testing.T) {
	goCmd, err := exec.LookPath("go")
	if err != nil {
		t.Fatalf("the go command is needed to list dependencies: %v", err)
	}
	out, err := exec.Command(goCmd, "list", "-f", "{{.ImportPath}}{{range .Deps}} {{.}}{{end}}", "./cmd/...").Output()
	if err != nil {
		t.Fatalf("go list: %v", err)
	}
	forbidden := func(dep string) bool {
		return dep == "msw/server" || dep == "msw/broker" ||
			strings.HasPrefix(dep, "msw/server/") || strings.HasPrefix(dep, "msw/broker/") ||
			strings.HasPrefix(dep, "github.com/prometheus/")
	}
	seen := 0
	for line := range strings.Lines(string(out)) {
		fields := strings.Fields(line)
		pkg, deps := strings.TrimPrefix(fields[0], "msw/cmd/"), fields[1:]
		seen++
		bad := slices.DeleteFunc(slices.Clone(deps), func(d string) bool { return !forbidden(d) })
		if pkg == "msw-switch" {
			// The check must be able to see what it looks for.
			if !slices.Contains(deps, "msw/server") {
				t.Errorf("msw-switch does not seem to depend on msw/server; deps: %q", deps)
			}
			continue
		}
		if len(bad) > 0 {
			t.Errorf("%s links %q", pkg, bad)
		}
	}
	if want := len(cmdDirs(t)); seen != want {
		t.Errorf("go list reported %d commands; cmd/ holds %d", seen, want)
	}
}

// TestVersionScriptCoversEveryCommand: testdata/script/version.txtar
// tries --version of each command by name, a list kept by hand, so a
// command added without its lines there fails here.
func TestVersionScriptCoversEveryCommand(t *testing.T) {
	b, err := os.ReadFile(filepath.Join("testdata", "script", "version.txtar"))
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range cmdDirs(t) {
		if !strings.Contains(string(b), "\nexec "+name+" --version\n") {
			t.Errorf("testdata/script/version.txtar: no line 'exec %s --version'", name)
		}
	}
}

// TestMakeInstall installs into a temporary DESTDIR and checks that
// everything lands where the system looks: stripped commands, both
// man sections, and the completion scripts under every command's name.
func TestMakeInstall(t *testing.T) {
	t.Parallel()
	if testing.Short() {
		t.Skip("builds every command: not with -short")
	}
	if _, err := exec.LookPath("make"); err != nil {
		t.Skip("make not installed")
	}
	dest := t.TempDir()
	out, err := exec.Command("make", "-s", "install", "DESTDIR="+dest, "PREFIX=/usr").CombinedOutput()
	if err != nil {
		t.Fatalf("make install: %v\n%s", err, out)
	}
	usr := filepath.Join(dest, "usr")
	for _, name := range cmdDirs(t) {
		for _, p := range []string{
			"bin/" + name,
			"share/man/man1/" + name + ".1",
			"share/bash-completion/completions/" + name,
		} {
			if _, err := os.Stat(filepath.Join(usr, p)); err != nil {
				t.Errorf("%s: %v", p, err)
			}
		}
		if name != "msw" {
			if _, err := os.Stat(filepath.Join(usr, "share/fish/vendor_completions.d", name+".fish")); err != nil {
				t.Errorf("fish completion for %s: %v", name, err)
			}
		}
	}
	for _, p := range []string{"share/man/man7/msw.7", "share/zsh/site-functions/_msw", "share/fish/vendor_completions.d/msw.fish"} {
		if _, err := os.Stat(filepath.Join(usr, p)); err != nil {
			t.Errorf("%s: %v", p, err)
		}
	}
	b, err := os.ReadFile(filepath.Join(usr, "share/bash-completion/completions/msw"))
	if err != nil || !strings.Contains(string(b), "complete -F _msw_command msw-switch msw-send") {
		t.Errorf("the bash script does not complete the commands: %v\n%.300s", err, b)
	}
	if out, err := exec.Command("go", "version", "-m", filepath.Join(usr, "bin/msw")).Output(); err == nil && strings.Contains(string(out), "-ldflags") && !strings.Contains(string(out), "-s -w") {
		t.Errorf("bin/msw is not stripped:\n%s", out)
	}
}
