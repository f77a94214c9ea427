//go:build linux

package msw_test

import (
	"bytes"
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"msw/lib"
)

// TestFullDiskAnswers507AndRecovers runs msw-switch --data on a 1 MiB
// tmpfs, fills it, and checks that a send is refused with 507
// storage_full (msw-send exits 1 naming it), that what was accepted
// before stays, and that sends are accepted again once space returns.
func TestFullDiskAnswers507AndRecovers(t *testing.T) {
	dir := t.TempDir()
	if err := syscall.Mount("tmpfs", dir, "tmpfs", 0, "size=1m"); err != nil {
		t.Skipf("cannot mount a 1 MiB tmpfs here (%v): the full disk is tested through the log's file interface in broker/logstore instead", err)
	}
	t.Cleanup(func() {
		if err := syscall.Unmount(dir, 0); err != nil {
			t.Errorf("unmount %s: %v", dir, err)
		}
	})
	data := filepath.Join(dir, "data")
	addr, cmd := startDataSwitch(t, data, 0)
	msw := func(stdin string, args ...string) (string, error) {
		c := exec.Command(args[0], args[1:]...)
		c.Env = append(os.Environ(), lib.EnvSwitch+"="+addr, "GORACE=atexit_sleep_ms=0")
		c.Stdin = strings.NewReader(stdin)
		var out bytes.Buffer
		c.Stdout, c.Stderr = &out, &out
		err := c.Run()
		return out.String(), err
	}
	if out, err := msw("first", "msw-send", "q"); err != nil {
		t.Fatalf("msw-send before the disk is full: %v: %s", err, out)
	}

	// Fill the disk.
	filler := filepath.Join(dir, "filler")
	f, err := os.Create(filler)
	if err != nil {
		t.Fatal(err)
	}
	chunk := make([]byte, 64<<10)
	for {
		if _, err := f.Write(chunk); err != nil {
			if !errors.Is(err, syscall.ENOSPC) {
				t.Fatal(err)
			}
			break
		}
	}
	f.Close()

	big := strings.Repeat("x", 16<<10)
	out, err := msw(big, "msw-send", "q")
	var ee *exec.ExitError
	if !errors.As(err, &ee) || ee.ExitCode() != 1 || !strings.HasPrefix(out, "msw-send: storage full: ") || !strings.Contains(out, "no space left on device") {
		t.Fatalf("msw-send to a full disk: %v: %q; want exit 1 naming storage full", err, out)
	}
	c, err := lib.New(lib.Options{Addr: addr, ClientID: "check"})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	_, err = c.Send(context.Background(), "q", lib.Message{Payload: []byte(big)})
	var le *lib.Error
	if !errors.As(err, &le) || le.Status != 507 || le.Code != "storage_full" {
		t.Fatalf("library send to a full disk: %v, want 507 storage_full", err)
	}

	// Space returns.
	if err := os.Remove(filler); err != nil {
		t.Fatal(err)
	}
	if out, err := msw(big, "msw-send", "q"); err != nil {
		t.Fatalf("msw-send after space returned: %v: %s", err, out)
	}
	cmd.Process.Signal(syscall.SIGKILL)
	cmd.Wait()

	addr, _ = startDataSwitch(t, data, 1)
	c2, err := lib.New(lib.Options{Addr: addr, ClientID: "check2"})
	if err != nil {
		t.Fatal(err)
	}
	defer c2.Close()
	ds, err := c2.Peek(context.Background(), "q", 10)
	if err != nil {
		t.Fatal(err)
	}
	if len(ds) != 2 || string(ds[0].Payload) != "first" || string(ds[1].Payload) != big {
		t.Fatalf("after restart the queue holds %d messages, want first and the one sent after space returned", len(ds))
	}
}
