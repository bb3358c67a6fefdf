package ui

import (
	"fmt"
	"time"

	"cloud.google.com/go/longrunning/autogen/longrunningpb"

	"google.golang.org/grpc/codes"

	"lro.dev/lro"
	"lro.dev/lro/internal/httperr"
)

// attemptJSON is one attempt as the page shows it.
type attemptJSON struct {
	Number    int        `json:"number"`
	Worker    string     `json:"worker"`
	StartTime time.Time  `json:"startTime"`
	DueTime   *time.Time `json:"dueTime,omitempty"`
	EndTime   *time.Time `json:"endTime,omitempty"`
	// Outcome is "running" while the attempt runs, then one of
	// lro.AttemptInfo's outcomes.
	Outcome string     `json:"outcome"`
	Error   *errorJSON `json:"error,omitempty"`
}

// event is one line of an operation's timeline.
type event struct {
	Time  time.Time `json:"time"`
	Event string    `json:"event"` // created, due, claimed, ended, retry_wait, done
	Text  string    `json:"text"`
}

func attemptsJSON(info *lro.OperationInfo) []attemptJSON {
	out := make([]attemptJSON, len(info.Attempts)) // [] rather than null: the page iterates
	for i, a := range info.Attempts {
		out[i] = attemptJSON{Number: a.Number, Worker: a.Worker, StartTime: a.StartTime.UTC(), DueTime: timePtr(a.DueTime),
			EndTime: timePtr(a.EndTime), Outcome: a.Outcome, Error: statusJSON(a.Error)}
		if a.Outcome == "" {
			out[i].Outcome = "running"
		}
	}
	return out
}

// timeline tells an operation's life from what the store keeps: its
// start, each attempt's due time (when it waited for a delay or a retry's
// backoff), claim and end, the wait for the next attempt, and its end.
func timeline(info *lro.OperationInfo, op *longrunningpb.Operation) []event {
	done := op.GetDone()
	out := []event{}
	add := func(t time.Time, kind, format string, args ...any) {
		if !t.IsZero() {
			out = append(out, event{Time: t.UTC(), Event: kind, Text: fmt.Sprintf(format, args...)})
		}
	}
	add(info.CreateTime, "created", "started, kind %s", info.Kind)
	prev := info.CreateTime
	for _, a := range info.Attempts {
		// A due time past the previous step is a delayed start or a
		// retry's backoff: say when it ended.
		if a.DueTime.Sub(prev) >= time.Millisecond {
			add(a.DueTime, "due", "due to run (attempt %d)", a.Number)
		}
		wait := ""
		if !a.DueTime.IsZero() {
			wait = fmt.Sprintf(", after %s in the queue", roundDuration(a.StartTime.Sub(a.DueTime)))
		}
		add(a.StartTime, "claimed", "attempt %d claimed by %s%s", a.Number, a.Worker, wait)
		if !a.EndTime.IsZero() {
			text := fmt.Sprintf("attempt %d %s after %s", a.Number, outcomeText(a.Outcome), roundDuration(a.EndTime.Sub(a.StartTime)))
			if a.Error != nil {
				text += fmt.Sprintf(": %s %s", httperr.CodeName(a.Error.Code()), a.Error.Message())
			}
			add(a.EndTime, "ended", "%s", text)
			prev = a.EndTime
		} else {
			prev = a.StartTime
		}
	}
	if !done && info.State == "pending" && !info.NotBefore.IsZero() {
		what := "waits for its delayed start until %s"
		if len(info.Attempts) > 0 {
			what = "waits to run again until %s"
		}
		add(prev, "retry_wait", what, info.NotBefore.UTC().Format(time.RFC3339))
	}
	if done {
		text := "done: " + info.State
		if e := op.GetError(); e != nil && info.State == "failed" {
			text += ", " + httperr.CodeName(codes.Code(e.GetCode())) + " " + e.GetMessage()
		}
		add(info.EndTime, "done", "%s", text)
	}
	return out
}

func outcomeText(o string) string {
	switch o {
	case "retry":
		return "failed, to run again"
	case "lost":
		return "lost its worker (lease expired)"
	case "released":
		return "given back by its worker"
	case "deadline":
		return "ended by the operation's deadline"
	}
	return o
}

// roundDuration rounds d for reading: to the millisecond under a second,
// to the tenth of a second under a minute, to the second above.
func roundDuration(d time.Duration) time.Duration {
	switch {
	case d < time.Second:
		return d.Round(time.Millisecond)
	case d < time.Minute:
		return d.Round(100 * time.Millisecond)
	}
	return d.Round(time.Second)
}
