package server_test

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"lro.dev/lro/internal/server"
	"lro.dev/lro/lroauth"
)

// The browser tests run internal/ui/e2e/ui.test.mjs, which drives Chromium
// through Playwright against a server started here. They need node, the
// script's packages (npm ci --prefix internal/ui/e2e) and Chromium
// (/usr/bin/chromium, or $CHROMIUM); without them they are skipped, unless
// LRO_TEST_BROWSER_REQUIRED is set (as .ci/run sets it), when they fail.
// Screenshots go to $LRO_UI_ARTIFACTS, by default
// internal/ui/e2e/artifacts.

const e2eDir = "../ui/e2e"

func browserOrSkip(t *testing.T) []string {
	t.Helper()
	need := func(what string) {
		t.Helper()
		if os.Getenv("LRO_TEST_BROWSER_REQUIRED") != "" {
			t.Fatalf("browser tests: %s (LRO_TEST_BROWSER_REQUIRED is set)", what)
		}
		t.Skipf("browser tests: %s", what)
	}
	if _, err := exec.LookPath("node"); err != nil {
		need("node is not installed")
	}
	if _, err := os.Stat(filepath.Join(e2eDir, "node_modules", "playwright-core")); err != nil {
		need("playwright-core is not installed: npm ci --prefix internal/ui/e2e")
	}
	chromium := os.Getenv("CHROMIUM")
	if chromium == "" {
		chromium = "/usr/bin/chromium"
	}
	if _, err := os.Stat(chromium); err != nil {
		need(chromium + " is not installed: apt-get install -y chromium")
	}
	artifacts := os.Getenv("LRO_UI_ARTIFACTS")
	if artifacts == "" {
		artifacts = filepath.Join(e2eDir, "artifacts")
	}
	artifacts, err := filepath.Abs(artifacts)
	require.NoError(t, err)
	require.NoError(t, os.MkdirAll(artifacts, 0o755))
	return []string{"CHROMIUM=" + chromium, "LRO_UI_ARTIFACTS=" + artifacts}
}

// runBrowser runs the browser script with env, failing the test with its
// output if it fails.
func runBrowser(t *testing.T, env []string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, "node", "ui.test.mjs")
	cmd.Dir = e2eDir
	cmd.Env = append(os.Environ(), env...)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("the browser test failed: %v\n%s", err, out)
	}
	t.Logf("browser test:\n%s", out)
}

// seedBrowserOperations starts what the browser test looks at: done
// operations (succeeded and failed) for the list, its filter and the kind's
// charts, and a long one, running, whose progress the test watches and
// which it cancels. It returns the long one's name.
func seedBrowserOperations(t *testing.T, base, token string) string {
	t.Helper()
	for i := range 4 {
		uiStart(t, base, token, "", time.Duration(i+1)*50*time.Millisecond)
	}
	body := `{"kind":"demo.sleep","input":{"duration":"0.05s","fail_code":9,"fail_message":"the disk is full"}}`
	resp, b := uiPost(t, base+"/v1/operations:start", token, body)
	require.Equal(t, 200, resp.StatusCode, string(b))
	return uiStart(t, base, token, "", 10*time.Minute)
}

// TestUIBrowser drives the dashboard in Chromium: the list and its filter,
// an operation's progress moving live, its cancellation through the page
// and its end CANCELLED, the kind's page, and a phone-sized screen.
func TestUIBrowser(t *testing.T) {
	env := browserOrSkip(t)
	srv := newServer(t, server.Config{})
	base := "http://" + srv.Addr().String()
	name := seedBrowserOperations(t, base, "")
	runBrowser(t, append(env, "LRO_UI_URL="+base+"/ui/", "LRO_UI_OPERATION="+name))
}

// TestUIBrowserToken: with authentication on, the page asks for a token,
// and with it shows the list.
func TestUIBrowserToken(t *testing.T) {
	env := browserOrSkip(t)
	const token = "tok-ui-operator-4c1e"
	auth := lroauth.AuthenticatorFunc(func(_ context.Context, c *lroauth.Credentials) (*lroauth.Principal, error) {
		got, err := lroauth.ParseBearer(c.Authorization)
		if err != nil {
			return nil, err
		}
		if got != token {
			return nil, lroauth.Unauthenticated("TOKEN_INVALID", "unknown token")
		}
		grants, err := lroauth.ParseGrants([]string{"operator:*"})
		if err != nil {
			return nil, err
		}
		return &lroauth.Principal{Name: "ui-operator", Grants: grants}, nil
	})
	srv := newServer(t, server.Config{Authenticator: auth})
	base := "http://" + srv.Addr().String()
	name := seedBrowserOperations(t, base, token)
	runBrowser(t, append(env, "LRO_UI_URL="+base+"/ui/", "LRO_UI_OPERATION="+name, "LRO_UI_TOKEN="+token,
		"LRO_UI_SHOTS_PREFIX=token-"))
}
