package version

import (
	"runtime/debug"
	"testing"
)

func TestFromBuildInfo(t *testing.T) {
	vcs := func(rev, modified string) []debug.BuildSetting {
		return []debug.BuildSetting{{Key: "vcs", Value: "git"}, {Key: "vcs.revision", Value: rev}, {Key: "vcs.modified", Value: modified}}
	}
	for _, tc := range []struct {
		name string
		bi   *debug.BuildInfo
		want string
	}{
		{"no build info", nil, "devel"},
		{"nothing recorded", &debug.BuildInfo{Main: debug.Module{Path: "msw", Version: "(devel)"}}, "devel"},
		{"module version", &debug.BuildInfo{Main: debug.Module{Version: "v1.2.3"}, Settings: vcs("0123456789abcdef0123", "true")}, "v1.2.3"},
		{"revision", &debug.BuildInfo{Main: debug.Module{Version: "(devel)"}, Settings: vcs("0123456789abcdef0123", "false")}, "0123456789ab"},
		{"dirty revision", &debug.BuildInfo{Settings: vcs("0123456789abcdef0123", "true")}, "0123456789ab-dirty"},
	} {
		if got := fromBuildInfo(tc.bi); got != tc.want {
			t.Errorf("%s: %q, want %q", tc.name, got, tc.want)
		}
	}
}

func TestStampWins(t *testing.T) {
	defer func(s string) { stamp = s }(stamp)
	stamp = "v9.9.9-3-gabcdef"
	if got := String(); got != stamp {
		t.Fatalf("String() = %q with stamp %q", got, stamp)
	}
	stamp = ""
	if String() == "" {
		t.Fatal("String() is empty without a stamp")
	}
}
