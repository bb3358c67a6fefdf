package server_test

import (
	"bufio"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"lro.dev/lro"
	"lro.dev/lro/internal/server"
	"lro.dev/lro/lroauth"
)

// uiDetail is the part of the dashboard's operation detail that the tests
// read.
type uiDetail struct {
	Operation struct {
		Name string `json:"name"`
		Done bool   `json:"done"`
	} `json:"operation"`
	State    string   `json:"state"`
	Progress *float64 `json:"progress"`
	Attempts []struct {
		Number  int    `json:"number"`
		Worker  string `json:"worker"`
		Outcome string `json:"outcome"`
	} `json:"attempts"`
	Timeline []struct {
		Event string `json:"event"`
	} `json:"timeline"`
	Allowed struct {
		Cancel bool `json:"cancel"`
		Delete bool `json:"delete"`
	} `json:"allowed"`
}

// uiResponse is what the tests read of a response: its body is read and
// closed.
type uiResponse struct {
	StatusCode int
	Header     http.Header
}

// uiCall makes an HTTP call on the server at base with token as a bearer
// token (none if empty), and returns the response with its body read.
// A POST sends the body {}.
func uiCall(t *testing.T, method, url, token string) (*uiResponse, []byte) {
	t.Helper()
	body := ""
	if method == http.MethodPost {
		body = "{}"
	}
	return uiDo(t, method, url, token, body)
}

func uiDo(t *testing.T, method, url, token, body string) (*uiResponse, []byte) {
	t.Helper()
	req, err := http.NewRequest(method, url, strings.NewReader(body))
	require.NoError(t, err)
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	return &uiResponse{StatusCode: resp.StatusCode, Header: resp.Header}, b
}

// uiStart starts a demo.sleep of d over HTTP and returns its name.
func uiStart(t *testing.T, base, token, parent string, d time.Duration) string {
	t.Helper()
	path := "/v1/operations:start"
	if parent != "" {
		path = "/v1/" + parent + "/operations:start"
	}
	body := `{"kind":"demo.sleep","input":{"duration":"` + strconv.FormatFloat(d.Seconds(), 'f', -1, 64) + `s"}}`
	resp, b := uiPost(t, base+path, token, body)
	require.Equal(t, http.StatusOK, resp.StatusCode, string(b))
	var op struct{ Name string }
	require.NoError(t, json.Unmarshal(b, &op))
	return op.Name
}

// uiPost posts body (JSON) to url with token as a bearer token (none if
// empty), and returns the response with its body read.
func uiPost(t *testing.T, url, token, body string) (*uiResponse, []byte) {
	t.Helper()
	return uiDo(t, http.MethodPost, url, token, body)
}

// sseEvent is one server-sent event.
type sseEvent struct{ name, data string }

// readEvents reads server-sent events from r into a channel, closed at the
// end of the stream.
func readEvents(r io.Reader) <-chan sseEvent {
	out := make(chan sseEvent)
	go func() {
		defer close(out)
		sc := bufio.NewScanner(r)
		sc.Buffer(make([]byte, 1<<20), 1<<20)
		var ev sseEvent
		for sc.Scan() {
			line := sc.Text()
			switch {
			case line == "":
				if ev.name != "" || ev.data != "" {
					out <- ev
				}
				ev = sseEvent{}
			case strings.HasPrefix(line, "event: "):
				ev.name = strings.TrimPrefix(line, "event: ")
			case strings.HasPrefix(line, "data: "):
				ev.data += strings.TrimPrefix(line, "data: ")
			}
		}
	}()
	return out
}

// TestUIStreamsAnOperation: the dashboard's stream of an operation sends
// its progress as it moves, without the page asking again, and its end
// once cancelled: a last detail in state cancelled, then "end", then the
// stream closes.
func TestUIStreamsAnOperation(t *testing.T) {
	t.Parallel()
	srv := newServer(t, server.Config{})
	base := "http://" + srv.Addr().String()
	name := uiStart(t, base, "", "", 30*time.Second)

	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, base+"/ui/api/operation/events?name="+name, nil)
	require.NoError(t, err)
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	require.Equal(t, http.StatusOK, resp.StatusCode)
	require.Equal(t, "text/event-stream", resp.Header.Get("Content-Type"))
	events := readEvents(resp.Body)

	next := func() sseEvent {
		t.Helper()
		select {
		case ev, ok := <-events:
			require.True(t, ok, "the stream ended early")
			return ev
		case <-ctx.Done():
			t.Fatal("no event in time")
		}
		return sseEvent{}
	}
	// Progress moves in at least two steps while running.
	var seen []float64
	for len(seen) < 3 {
		ev := next()
		require.Equal(t, "operation", ev.name)
		var d uiDetail
		require.NoError(t, json.Unmarshal([]byte(ev.data), &d))
		require.Equal(t, name, d.Operation.Name)
		require.False(t, d.Operation.Done)
		require.True(t, d.Allowed.Cancel)
		if d.Progress != nil && (len(seen) == 0 || *d.Progress != seen[len(seen)-1]) {
			seen = append(seen, *d.Progress)
		}
	}
	require.Less(t, seen[0], seen[2])

	resp2, body := uiCall(t, http.MethodPost, base+"/v1/"+name+":cancel", "")
	require.Equal(t, http.StatusOK, resp2.StatusCode, string(body))
	for {
		ev := next()
		require.Equal(t, "operation", ev.name, ev.data)
		var d uiDetail
		require.NoError(t, json.Unmarshal([]byte(ev.data), &d))
		if d.Operation.Done {
			require.Equal(t, "cancelled", d.State)
			require.False(t, d.Allowed.Cancel)
			require.Len(t, d.Attempts, 1)
			require.Equal(t, 1, d.Attempts[0].Number)
			require.NotEmpty(t, d.Attempts[0].Worker)
			require.Equal(t, "cancelled", d.Attempts[0].Outcome)
			var events []string
			for _, e := range d.Timeline {
				events = append(events, e.Event)
			}
			require.Equal(t, []string{"created", "claimed", "ended", "done"}, events)
			break
		}
	}
	require.Equal(t, "end", next().name)
	select {
	case ev, ok := <-events:
		require.False(t, ok, "an event after the end: %+v", ev)
	case <-ctx.Done():
		t.Fatal("the stream did not close after its end")
	}
}

// TestUIPagesAndErrors: the page and its assets are served with a content
// security policy; bad paths, methods and names get Google's JSON errors
// with their codes; and --ui=false turns it all off.
func TestUIPagesAndErrors(t *testing.T) {
	t.Parallel()
	srv := newServer(t, server.Config{Client: lro.Config{Workers: -1}})
	base := "http://" + srv.Addr().String()

	resp, body := uiCall(t, http.MethodGet, base+"/ui/", "")
	require.Equal(t, http.StatusOK, resp.StatusCode)
	require.Contains(t, resp.Header.Get("Content-Type"), "text/html")
	require.Contains(t, resp.Header.Get("Content-Security-Policy"), "script-src 'self'")
	require.Contains(t, string(body), "<html")

	noRedirect := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	r, err := noRedirect.Get(base + "/ui")
	require.NoError(t, err)
	r.Body.Close()
	require.Equal(t, http.StatusMovedPermanently, r.StatusCode)
	require.Equal(t, "/ui/", r.Header.Get("Location"))

	for _, c := range []struct {
		method, path string
		status       int
		code         string
	}{
		{http.MethodGet, "/ui/nothing-here", 404, "NOT_FOUND"},
		{http.MethodGet, "/ui/assets/nothing.js", 404, "NOT_FOUND"},
		{http.MethodPost, "/ui/", 405, "UNIMPLEMENTED"},
		{http.MethodGet, "/ui/api/nothing", 404, "NOT_FOUND"},
		{http.MethodGet, "/ui/api/operation", 400, "INVALID_ARGUMENT"},
		{http.MethodGet, "/ui/api/operation?name=bogus", 400, "INVALID_ARGUMENT"},
		{http.MethodGet, "/ui/api/operation?name=operations/01a2420c-fb8d-763a-a0a1-f1fe30976803", 404, "NOT_FOUND"},
		{http.MethodGet, "/ui/api/operation/events?name=operations/01a2420c-fb8d-763a-a0a1-f1fe30976803", 404, "NOT_FOUND"},
	} {
		resp, body := uiCall(t, c.method, base+c.path, "")
		require.Equal(t, c.status, resp.StatusCode, "%s %s: %s", c.method, c.path, body)
		var e struct{ Error struct{ Status string } }
		require.NoError(t, json.Unmarshal(body, &e), "%s %s: %s", c.method, c.path, body)
		require.Equal(t, c.code, e.Error.Status, "%s %s", c.method, c.path)
	}

	off := newServer(t, server.Config{Client: lro.Config{Workers: -1}, DisableUI: true})
	resp, _ = uiCall(t, http.MethodGet, "http://"+off.Addr().String()+"/ui/", "")
	require.Equal(t, http.StatusNotFound, resp.StatusCode)
}

// TestUIAuthorization: with authentication on, the page loads without
// credentials, its calls need them (401, with WWW-Authenticate), and each
// caller sees and may do what its grants give on each parent.
func TestUIAuthorization(t *testing.T) {
	t.Parallel()
	grants := map[string][]string{
		"tok-admin":    {"admin:*"},
		"tok-reader":   {"reader:*"},
		"tok-p1reader": {"reader:projects/p1"},
		"tok-operator": {"operator:*"},
	}
	auth := lroauth.AuthenticatorFunc(func(_ context.Context, c *lroauth.Credentials) (*lroauth.Principal, error) {
		token, err := lroauth.ParseBearer(c.Authorization)
		if err != nil {
			return nil, err
		}
		gs, ok := grants[token]
		if !ok {
			return nil, lroauth.Unauthenticated("TOKEN_INVALID", "unknown token")
		}
		parsed, err := lroauth.ParseGrants(gs)
		if err != nil {
			return nil, err
		}
		return &lroauth.Principal{Name: strings.TrimPrefix(token, "tok-"), Grants: parsed}, nil
	})
	srv := newServer(t, server.Config{Client: lro.Config{Workers: -1}, Authenticator: auth, HTTPParents: []string{"projects/*"}})
	base := "http://" + srv.Addr().String()

	resp, _ := uiCall(t, http.MethodGet, base+"/ui/", "")
	require.Equal(t, http.StatusOK, resp.StatusCode, "the page itself needs no credentials")
	resp, body := uiCall(t, http.MethodGet, base+"/ui/api/session", "")
	require.Equal(t, http.StatusUnauthorized, resp.StatusCode, string(body))
	require.Contains(t, resp.Header.Get("WWW-Authenticate"), "Bearer")

	session := func(token string) map[string]any {
		resp, body := uiCall(t, http.MethodGet, base+"/ui/api/session", token)
		require.Equal(t, http.StatusOK, resp.StatusCode, string(body))
		var s map[string]any
		require.NoError(t, json.Unmarshal(body, &s))
		return s
	}
	s := session("tok-reader")
	require.Equal(t, true, s["authRequired"])
	require.Equal(t, "reader", s["principal"])
	require.Equal(t, []any{"reader:*"}, s["grants"])
	require.Equal(t, true, s["canReadAll"])
	require.Equal(t, false, s["canOperate"])
	s = session("tok-p1reader")
	require.Equal(t, false, s["canReadAll"])
	require.Equal(t, false, s["canOperate"])
	s = session("tok-operator")
	require.Equal(t, true, s["canReadAll"])
	require.Equal(t, true, s["canOperate"])

	name := uiStart(t, base, "tok-admin", "", time.Hour)
	p1 := uiStart(t, base, "tok-admin", "projects/p1", time.Hour)

	detail := func(token, name string) (int, uiDetail) {
		resp, body := uiCall(t, http.MethodGet, base+"/ui/api/operation?name="+name, token)
		var d uiDetail
		if resp.StatusCode == http.StatusOK {
			require.NoError(t, json.Unmarshal(body, &d))
		}
		return resp.StatusCode, d
	}
	code, d := detail("tok-reader", name)
	require.Equal(t, http.StatusOK, code)
	require.False(t, d.Allowed.Cancel)
	require.False(t, d.Allowed.Delete)
	code, d = detail("tok-operator", name)
	require.Equal(t, http.StatusOK, code)
	require.True(t, d.Allowed.Cancel)
	require.True(t, d.Allowed.Delete)
	code, _ = detail("tok-p1reader", name)
	require.Equal(t, http.StatusForbidden, code, "p1's reader may not read the default collection")
	code, _ = detail("tok-p1reader", p1)
	require.Equal(t, http.StatusOK, code)
	resp, _ = uiCall(t, http.MethodGet, base+"/ui/api/operation/events?name="+name, "tok-p1reader")
	require.Equal(t, http.StatusForbidden, resp.StatusCode)
	resp, _ = uiCall(t, http.MethodGet, base+"/ui/api/operation?name="+name, "tok-nobody")
	require.Equal(t, http.StatusUnauthorized, resp.StatusCode)

	// Counts and kinds' statistics cover every parent.
	for _, path := range []string{"/ui/api/counts", "/ui/api/kind?name=demo.sleep"} {
		resp, body := uiCall(t, http.MethodGet, base+path, "tok-p1reader")
		require.Equal(t, http.StatusForbidden, resp.StatusCode, "%s: %s", path, body)
		require.Contains(t, string(body), "reader:*")
		resp, body = uiCall(t, http.MethodGet, base+path, "tok-reader")
		require.Equal(t, http.StatusOK, resp.StatusCode, "%s: %s", path, body)
	}
}

// TestUICountsAndKind: the counts by kind and state, and a kind's page,
// after a known workload: exact counts, and buckets that add up to them.
func TestUICountsAndKind(t *testing.T) {
	t.Parallel()
	srv := newServer(t, server.Config{})
	base := "http://" + srv.Addr().String()
	uiStart(t, base, "", "", time.Hour) // the oldest: claimed before the others
	var short []string
	for range 3 {
		short = append(short, uiStart(t, base, "", "", 10*time.Millisecond))
	}
	resp, b := uiPost(t, base+"/v1/operations:start", "", `{"kind":"demo.sleep","input":{"duration":"0.01s","fail_code":9,"fail_message":"no"}}`)
	require.Equal(t, http.StatusOK, resp.StatusCode, string(b))
	var failed struct{ Name string }
	require.NoError(t, json.Unmarshal(b, &failed))
	for _, name := range append(short, failed.Name) {
		resp, b := uiPost(t, base+"/v1/"+name+":wait", "", `{"timeout":"30s"}`)
		require.Equal(t, http.StatusOK, resp.StatusCode, string(b))
		require.Contains(t, string(b), `"done":true`)
	}

	resp, b = uiCall(t, http.MethodGet, base+"/ui/api/counts", "")
	require.Equal(t, http.StatusOK, resp.StatusCode, string(b))
	require.JSONEq(t, `{"kinds":[{"kind":"demo.sleep","pending":0,"running":1,"succeeded":3,"failed":1,"cancelled":0}],
		"total":{"pending":0,"running":1,"succeeded":3,"failed":1,"cancelled":0}}`, string(b))

	resp, b = uiCall(t, http.MethodGet, base+"/ui/api/kind?name=demo.sleep", "")
	require.Equal(t, http.StatusOK, resp.StatusCode, string(b))
	var k struct {
		Kind          string
		Registered    bool
		Counts        map[string]int64
		WindowStart   time.Time
		WindowEnd     time.Time
		BucketSeconds float64
		Buckets       []struct {
			Start                                    time.Time
			Succeeded, Failed, Cancelled, Claims     int64
			QueueWaitAvgSeconds, QueueWaitMaxSeconds float64
		}
		PastDeadline, LeaseExpiring []any
	}
	require.NoError(t, json.Unmarshal(b, &k))
	require.Equal(t, "demo.sleep", k.Kind)
	require.True(t, k.Registered)
	require.Equal(t, map[string]int64{"pending": 0, "running": 1, "succeeded": 3, "failed": 1, "cancelled": 0}, k.Counts)
	require.Equal(t, 60.0, k.BucketSeconds)
	require.Len(t, k.Buckets, 60)
	require.Equal(t, time.Hour, k.WindowEnd.Sub(k.WindowStart))
	var succeeded, failedN, claims int64
	for i, bk := range k.Buckets {
		require.Equal(t, k.WindowStart.Add(time.Duration(i)*time.Minute), bk.Start)
		succeeded += bk.Succeeded
		failedN += bk.Failed
		claims += bk.Claims
		require.GreaterOrEqual(t, bk.QueueWaitMaxSeconds, bk.QueueWaitAvgSeconds)
	}
	require.Equal(t, int64(3), succeeded)
	require.Equal(t, int64(1), failedN)
	require.Equal(t, int64(5), claims, "one claim each")
	require.Empty(t, k.PastDeadline)
	require.Empty(t, k.LeaseExpiring, "the running one's lease is renewed")

	// A window that sixty does not divide into whole seconds: its buckets
	// are rounded up, at most sixty of them.
	resp, b = uiCall(t, http.MethodGet, base+"/ui/api/kind?name=demo.sleep&window=90s", "")
	require.Equal(t, http.StatusOK, resp.StatusCode, string(b))
	k.Buckets = nil
	require.NoError(t, json.Unmarshal(b, &k))
	require.Equal(t, 2.0, k.BucketSeconds)
	require.Len(t, k.Buckets, 45)

	for _, c := range []struct{ query, reason string }{
		{"", "INVALID_ARGUMENT"},
		{"?name=demo.sleep&window=5s", "INVALID_WINDOW"},
		{"?name=demo.sleep&window=48h", "INVALID_WINDOW"},
		{"?name=demo.sleep&window=soon", "INVALID_WINDOW"},
	} {
		resp, b := uiCall(t, http.MethodGet, base+"/ui/api/kind"+c.query, "")
		require.Equal(t, http.StatusBadRequest, resp.StatusCode, "%s: %s", c.query, b)
		require.Contains(t, string(b), c.reason)
	}
}
