package server_test

import (
	"fmt"
	"io"
	"net/http"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// TestManyWaitsFewFiles runs `lro serve` with a limit of 300 open files and
// sends it 400 HTTP waits at once, each on a connection of its own: the
// server lowers its caps to what its files allow, holds as many waits as
// its cap, refuses the others (RESOURCE_EXHAUSTED, or the connection), and
// a Get, /healthz and a start, which needs the store, still answer.
func TestManyWaitsFewFiles(t *testing.T) {
	t.Parallel()
	prlimit, err := exec.LookPath("prlimit")
	if err != nil {
		t.Skip("needs prlimit (util-linux)")
	}
	const (
		files   = 300
		waiters = 400
		// What the server keeps: 128 files for other uses than
		// connections, and three quarters of the connections for waits.
		maxConns = files - 128
		maxWaits = maxConns * 3 / 4
	)
	p := runProcUnder(t, []string{prlimit, fmt.Sprintf("--nofile=%d:%d", files, files), "--"},
		"server", "sqlite:"+filepath.Join(t.TempDir(), "lro.db"))
	p.addr, err = p.waitAddr()
	require.NoError(t, err, "stderr:\n%s", p.logs())
	got, ok := p.find(regexp.MustCompile(`fewer connections than configured.* max_connections=(\d+)`))
	require.True(t, ok, "the server says it lowered its cap of connections; stderr:\n%s", p.logs())
	require.Equal(t, fmt.Sprint(maxConns), got)

	base := "http://" + p.addr
	post := func(client *http.Client, path, body string) (int, string, error) {
		resp, err := client.Post(base+path, "application/json", strings.NewReader(body))
		if err != nil {
			return 0, "", err
		}
		defer resp.Body.Close()
		b, err := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b), err
	}
	code, body, err := post(http.DefaultClient, "/v1/operations:start", `{"kind":"demo.sleep","input":{"duration":"60s"}}`)
	require.NoError(t, err)
	require.Equal(t, http.StatusOK, code, body)
	name := regexp.MustCompile(`"name":"([^"]+)"`).FindStringSubmatch(body)[1]

	var refused, exhausted atomic.Int64
	held := make(chan error, waiters)
	for range waiters {
		go func() {
			client := &http.Client{Transport: &http.Transport{}, Timeout: time.Minute}
			defer client.CloseIdleConnections()
			code, body, err := post(client, "/v1/"+name+":wait", `{"timeout":"50s"}`)
			switch {
			case err != nil:
				refused.Add(1)
			case code == http.StatusTooManyRequests && strings.Contains(body, "TOO_MANY_WAITS"):
				exhausted.Add(1)
			case code == http.StatusOK:
				held <- nil
			default:
				held <- fmt.Errorf("a wait: %d %s", code, body)
			}
		}()
	}
	require.Eventually(t, func() bool { return refused.Load()+exhausted.Load() == waiters-maxWaits }, 30*time.Second, 10*time.Millisecond,
		"all waits but the %d the server holds are refused (refused %d, exhausted %d)", maxWaits, refused.Load(), exhausted.Load())
	require.Positive(t, exhausted.Load(), "some waits are told RESOURCE_EXHAUSTED")

	// The server, and its store, still answer.
	client := &http.Client{Transport: &http.Transport{}, Timeout: 10 * time.Second}
	defer client.CloseIdleConnections()
	resp, err := client.Get(base + "/healthz")
	require.NoError(t, err)
	resp.Body.Close()
	require.Equal(t, http.StatusOK, resp.StatusCode)
	resp, err = client.Get(base + "/v1/" + name)
	require.NoError(t, err)
	resp.Body.Close()
	require.Equal(t, http.StatusOK, resp.StatusCode)
	code, body, err = post(client, "/v1/operations:start", `{"kind":"demo.sleep","input":{"duration":"0s"}}`)
	require.NoError(t, err)
	require.Equal(t, http.StatusOK, code, body)

	// The held waits end with their operation.
	code, body, err = post(client, "/v1/"+name+":cancel", "")
	require.NoError(t, err)
	require.Equal(t, http.StatusOK, code, body)
	for range maxWaits {
		select {
		case err := <-held:
			require.NoError(t, err)
		case <-time.After(30 * time.Second):
			t.Fatal("a held wait did not end with its operation")
		}
	}
}
