package storekit

import "strings"

// The rules that decide an operation's fate when it is rescued, cancelled
// or finished as failed are written here once, as the SET assignments of
// the stores' statements, so that both stores apply the same rule; the
// conformance suite checks the outcome (lrostoretest: OperationRescue,
// OperationCancel, OperationFinishMany).

// Dialect is how a store's SQL names what the rules read.
type Dialect struct {
	// Prefix comes before each column: a table alias and its dot, or "".
	Prefix string
	// IsTrue and IsFalse test a boolean column (SQLite keeps booleans as
	// integers).
	IsTrue, IsFalse func(column string) string
	// True is the literal true.
	True string
	// Indent starts every assignment after the first, which the caller's
	// statement places.
	Indent string
}

// FailureArgs are the SQL expressions of a Failure's status, code and
// message: the values of the columns error, error_code and error_message.
type FailureArgs [3]string

var failureColumns = [3]string{"error", "error_code", "error_message"}

func (d Dialect) col(name string) string { return d.Prefix + name }

func (d Dialect) join(assignments []string) string {
	return strings.Join(assignments, ",\n"+d.Indent)
}

// RescueSet returns the assignments of a rescue of an operation whose lease
// expired: cancelled with cancelled if its cancellation was requested, else
// back to pending while attempts remain, else failed with exhausted; done
// at now unless it goes back to pending.
func (d Dialect) RescueSet(cancelled, exhausted FailureArgs, now string) string {
	requested := d.IsTrue(d.col("cancel_requested"))
	retry := d.col("attempt") + " < " + d.col("max_attempts")
	out := []string{`state = CASE WHEN ` + requested + ` THEN {cancelled} WHEN ` + retry + ` THEN {pending} ELSE {failed} END`}
	for i, c := range failureColumns {
		out = append(out, c+` = CASE WHEN `+requested+` THEN `+cancelled[i]+` WHEN `+retry+` THEN NULL ELSE `+exhausted[i]+` END`)
	}
	out = append(out, `end_time = CASE WHEN `+d.IsFalse(d.col("cancel_requested"))+` AND `+retry+` THEN NULL ELSE `+now+` END`)
	return States(d.join(out))
}

// CancelSet returns the assignments of a cancellation request: a pending
// operation is cancelled at once with cancelled, done at now; any other is
// only marked. Statements apply it to operations not done.
func (d Dialect) CancelSet(cancelled FailureArgs, now string) string {
	pending := d.col("state") + ` = {pending}`
	out := []string{`state = CASE WHEN ` + pending + ` THEN {cancelled} ELSE ` + d.col("state") + ` END`}
	for i, c := range failureColumns {
		out = append(out, c+` = CASE WHEN `+pending+` THEN `+cancelled[i]+` ELSE `+d.col(c)+` END`)
	}
	out = append(out, `end_time = CASE WHEN `+pending+` THEN `+now+` ELSE `+d.col("end_time")+` END`,
		`cancel_requested = `+d.True+`, update_time = `+now)
	return States(d.join(out))
}

// FinishStateSet returns the assignments of state and failure of a finish
// that asked for state asked with failure given: a failure of an operation
// whose cancellation was requested is stored as a cancellation with
// cancelled.
func (d Dialect) FinishStateSet(asked string, given, cancelled FailureArgs) string {
	becomesCancelled := asked + ` = {failed} AND ` + d.IsTrue(d.col("cancel_requested"))
	out := []string{`state = CASE WHEN ` + becomesCancelled + ` THEN {cancelled} ELSE ` + asked + ` END`}
	for i, c := range failureColumns {
		out = append(out, c+` = CASE WHEN `+becomesCancelled+` THEN `+cancelled[i]+` ELSE `+given[i]+` END`)
	}
	return States(d.join(out))
}

// RetrySet returns the assignments of a finish that puts an operation back
// to pending after a failed attempt (lrostore.OperationFinishParams with
// StatePending): pending again, not to be claimed before notBefore, its
// last failure lastError, its error still NULL; or, if its cancellation was
// requested, cancelled with cancelled and done at now.
func (d Dialect) RetrySet(cancelled FailureArgs, lastError, notBefore, now string) string {
	requested := d.IsTrue(d.col("cancel_requested"))
	out := []string{`state = CASE WHEN ` + requested + ` THEN {cancelled} ELSE {pending} END`}
	for i, c := range failureColumns {
		out = append(out, c+` = CASE WHEN `+requested+` THEN `+cancelled[i]+` ELSE NULL END`)
	}
	out = append(out, `last_error = `+lastError,
		`not_before = CASE WHEN `+requested+` THEN `+d.col("not_before")+` ELSE `+notBefore+` END`,
		`end_time = CASE WHEN `+requested+` THEN `+now+` ELSE NULL END`)
	return States(d.join(out))
}

// ExpireSet returns the assignments of the end of an operation whose
// deadline passed: failed with expired, done at now, whatever its state.
func (d Dialect) ExpireSet(expired FailureArgs, now string) string {
	out := []string{`state = {failed}`}
	for i, c := range failureColumns {
		out = append(out, c+` = `+expired[i])
	}
	out = append(out, `end_time = `+now, `update_time = `+now, `lease_owner = NULL`, `lease_expire_time = NULL`)
	return States(d.join(out))
}
