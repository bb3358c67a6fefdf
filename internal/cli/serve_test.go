package cli

import (
	"strings"
	"testing"
)

// TestServeLimitFlags: the flags of lro serve's connection boundary refuse
// values that cannot work, as usage errors naming the flag, before anything
// starts.
func TestServeLimitFlags(t *testing.T) {
	for _, args := range [][]string{
		{"--max-connections", "0"},
		{"--max-waits", "-1"},
		{"--allowed-host", "lro.example.com:8080"},
		{"--allowed-host", ""},
	} {
		r := runCLI(t, nil, append([]string{"serve", "--db", "sqlite:" + t.TempDir() + "/lro.db"}, args...)...)
		wantCode(t, r, 2)
		if !strings.Contains(r.stderr, "invalid "+args[0]) {
			t.Errorf("lro serve %s: stderr %q does not name the flag", strings.Join(args, " "), r.stderr)
		}
	}
}
