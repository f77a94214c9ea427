// Package version says which build of msw is running, for every
// command's --version and -h.
package version

import (
	"runtime/debug"
	"sync"
)

// stamp, when set at link time, is the version:
//
//	go build -ldflags '-X msw/internal/version.stamp=v1.2.3'
//
// The Makefile sets it to 'git describe --always --dirty'.
var stamp string

// String is the version of this build: the stamp the Makefile links in,
// else the module version the go command recorded, else the VCS revision
// it recorded (with "-dirty" for uncommitted changes), else "devel".
func String() string {
	if stamp != "" {
		return stamp
	}
	return fromBuild()
}

var fromBuild = sync.OnceValue(func() string {
	bi, _ := debug.ReadBuildInfo()
	return fromBuildInfo(bi)
})

// fromBuildInfo reads the version out of what the go command recorded.
func fromBuildInfo(bi *debug.BuildInfo) string {
	if bi == nil {
		return "devel"
	}
	if v := bi.Main.Version; v != "" && v != "(devel)" {
		return v
	}
	var rev string
	var dirty bool
	for _, s := range bi.Settings {
		switch s.Key {
		case "vcs.revision":
			rev = s.Value
		case "vcs.modified":
			dirty = s.Value == "true"
		}
	}
	if rev == "" {
		return "devel"
	}
	if len(rev) > 12 {
		rev = rev[:12]
	}
	if dirty {
		rev += "-dirty"
	}
	return rev
}
