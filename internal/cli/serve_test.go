package cli

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"lro.dev/lro/internal/kindfile/kindfiletest"
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
		{"--rate-limit", "-1"},
		{"--rate-burst", "-1"},
		{"--max-waits-per-principal", "-1"},
		{"--max-claims", "-1"},
		{"--max-request-bytes", "-1"},
		{"--cors-origin", "app.example.com"},
		{"--cors-origin", "https://app.example.com/path"},
	} {
		r := runCLI(t, nil, append([]string{"serve", "--db", "sqlite:" + t.TempDir() + "/lro.db"}, args...)...)
		wantCode(t, r, 2)
		if !strings.Contains(r.stderr, "invalid "+args[0]) {
			t.Errorf("lro serve %s: stderr %q does not name the flag", strings.Join(args, " "), r.stderr)
		}
	}
}

// TestServeBadKindsFile: lro serve with a kinds file that has a mistake
// exits with status 1 before it opens the store, naming the file and line.
func TestServeBadKindsFile(t *testing.T) {
	dir := t.TempDir()
	kinds := filepath.Join(dir, "kinds.yaml")
	set := filepath.Join(dir, "resize.pb")
	if err := os.WriteFile(set, kindfiletest.Bytes(), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name, src string
		sets      []string
		want      string
	}{
		{"unknown field", "kinds:\n  - name: a\n    lease: 30s\n", nil, kinds + `:3: unknown field "lease"`},
		{"unknown type", "kinds:\n  - name: a\n    request_type: other.v1.Request\n", nil, kinds + ":3: request_type other.v1.Request: no such message"},
		{"missing type in the set", "kinds:\n  - name: a\n  - name: b\n    response_type: kindfiletest.v1.Nope\n", []string{set}, kinds + ":4: response_type kindfiletest.v1.Nope"},
		{"a Go kind again", "kinds:\n  - name: demo.sleep\n", nil, kinds + ":2: "},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if err := os.WriteFile(kinds, []byte(tc.src), 0o600); err != nil {
				t.Fatal(err)
			}
			db := filepath.Join(t.TempDir(), "lro.db")
			args := []string{"serve", "--addr", "127.0.0.1:0", "--db", "sqlite:" + db, "--kinds", kinds}
			for _, s := range tc.sets {
				args = append(args, "--descriptor-set", s)
			}
			r := runCLI(t, nil, args...)
			wantCode(t, r, 1)
			if !strings.Contains(r.stderr, tc.want) {
				t.Errorf("stderr %q does not contain %q", r.stderr, tc.want)
			}
		})
	}
	r := runCLI(t, nil, "serve", "--db", "sqlite:"+filepath.Join(dir, "lro.db"), "--kinds", filepath.Join(dir, "missing.yaml"))
	wantCode(t, r, 1)
	if !strings.Contains(r.stderr, "missing.yaml") {
		t.Errorf("a missing kinds file: stderr %q does not name it", r.stderr)
	}
	if _, err := os.Stat(filepath.Join(dir, "lro.db")); !os.IsNotExist(err) {
		t.Errorf("the store was opened despite the bad kinds file: %v", err)
	}
	r = runCLI(t, nil, "serve", "--db", "sqlite:"+filepath.Join(dir, "lro.db"), "--descriptor-set", set)
	wantCode(t, r, 2)
	if !strings.Contains(r.stderr, "--descriptor-set needs --kinds") {
		t.Errorf("--descriptor-set alone: stderr %q", r.stderr)
	}
}
