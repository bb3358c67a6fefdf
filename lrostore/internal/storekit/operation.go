package storekit

import (
	"strings"
	"time"

	"github.com/jackc/pgx/v5/pgtype"
	spb "google.golang.org/genproto/googleapis/rpc/status"
	"google.golang.org/protobuf/proto"

	"lro.dev/lro/lrostore"
)

// columnLines are the operation's columns in the order OperationRow reads
// them, as the statements lay them out.
var columnLines = [][]string{
	{"id", "parent", "kind", "state", "input", "metadata", "metadata_type", "response", "response_type"},
	{"error", "error_code", "error_message", "request_id", "request_hash", "attempt", "max_attempts"},
	{"lease_owner", "lease_token", "lease_expire_time", "cancel_requested", "create_time", "update_time", "end_time"},
	{"not_before", "last_error", "deadline", "trace_context"},
}

// Columns returns the operation's columns in the order OperationRow.Dest
// scans them, each after prefix (a table alias and its dot, or "").
func Columns(prefix string) string {
	lines := make([]string, len(columnLines))
	for i, line := range columnLines {
		lines[i] = prefix + strings.Join(line, ", "+prefix)
	}
	return strings.Join(lines, ",\n\t")
}

// BriefColumns are the columns of a brief read (OperationGetParams.Brief),
// in the order BriefRow.Dest scans them. Its last column is the lease's
// expiry of a running operation, and the time a pending one waits for:
// never both set, they share one column, as the driver allocates for each
// column of each read.
const BriefColumns = `parent, state, metadata, response, error, error_code, COALESCE(lease_expire_time, not_before)`

// LiveColumns are the columns of a live read (OperationGetParams.Live):
// BriefColumns, then what tells where an operation stands that is not
// done. BriefRow.Live scans them.
const LiveColumns = BriefColumns + `, attempt, last_error, deadline`

// OperationRow receives a row of Columns from either driver: pgx scans into
// its fields directly, and database/sql through their sql.Scanner methods.
// T is how the driver's times arrive (timestamps, or integers of
// microseconds); the store gives OperationRow.Operation the function that
// reads them.
//
// A store allocates one per row; the operation returned points into it.
type OperationRow[T any] struct {
	op                                                                lrostore.Operation
	metadataType, responseType, errorMessage, requestID, leaseOwner   pgtype.Text
	traceContext                                                      pgtype.Text
	errorCode                                                         pgtype.Int4
	errorStatus, lastError                                            []byte
	leaseExpire, createTime, updateTime, endTime, notBefore, deadline T
}

// Dest returns the scan destinations of a row of Columns.
func (r *OperationRow[T]) Dest() []any {
	op := &r.op
	return []any{&op.ID, &op.Parent, &op.Kind, &op.State, &op.Input, &op.Metadata, &r.metadataType,
		&op.Response, &r.responseType, &r.errorStatus, &r.errorCode, &r.errorMessage, &r.requestID, &op.RequestHash,
		&op.Attempt, &op.MaxAttempts, &r.leaseOwner, &op.LeaseToken, &r.leaseExpire, &op.CancelRequested,
		&r.createTime, &r.updateTime, &r.endTime, &r.notBefore, &r.lastError, &r.deadline, &r.traceContext}
}

// Operation returns the operation scanned, with its times read by toTime.
func (r *OperationRow[T]) Operation(toTime func(T) time.Time) *lrostore.Operation {
	op := &r.op
	op.MetadataType = r.metadataType.String
	op.ResponseType = r.responseType.String
	if r.errorCode.Valid {
		op.Error = &lrostore.Failure{Code: r.errorCode.Int32, Message: r.errorMessage.String, Status: r.errorStatus}
	}
	op.RequestID = r.requestID.String
	op.LeaseOwner = r.leaseOwner.String
	op.LeaseExpireTime = toTime(r.leaseExpire)
	op.CreateTime = toTime(r.createTime)
	op.UpdateTime = toTime(r.updateTime)
	op.EndTime = toTime(r.endTime)
	op.NotBefore = toTime(r.notBefore)
	op.Deadline = toTime(r.deadline)
	if r.lastError != nil {
		op.LastError = LastFailure(r.lastError)
	}
	if r.traceContext.Valid {
		op.TraceParent, op.TraceState = SplitTraceContext(r.traceContext.String)
	}
	return op
}

// TraceContext is what the column trace_context stores of a trace
// context: the traceparent, then a space and the tracestate when there is
// one (a traceparent holds no space); ok is false when there is no
// traceparent, which stores NULL.
func TraceContext(traceParent, traceState string) (column string, ok bool) {
	switch {
	case traceParent == "":
		return "", false
	case traceState == "":
		return traceParent, true
	}
	return traceParent + " " + traceState, true
}

// SplitTraceContext reads a stored trace_context back into its
// traceparent and tracestate.
func SplitTraceContext(column string) (traceParent, traceState string) {
	traceParent, traceState, _ = strings.Cut(column, " ")
	return traceParent, traceState
}

// LastFailure is the Failure of a stored last_error, a google.rpc.Status
// encoded: its code and message are read from it.
func LastFailure(b []byte) *lrostore.Failure {
	st := &spb.Status{}
	if err := proto.Unmarshal(b, st); err != nil {
		return &lrostore.Failure{Code: 2, Message: "the last error does not decode", Status: b} // UNKNOWN
	}
	return &lrostore.Failure{Code: st.GetCode(), Message: st.GetMessage(), Status: b}
}

// BriefRow receives a row of BriefColumns, as OperationRow does a row of
// Columns.
type BriefRow[T any] struct {
	op                     lrostore.Operation
	errorStatus, lastError []byte
	errorCode              pgtype.Int4
	leaseExpire            T // or not_before: see BriefColumns
	deadline               T
	live                   bool // the row is of LiveColumns
}

// Dest returns the scan destinations of a row of BriefColumns after the
// leading columns that lead receives.
func (r *BriefRow[T]) Dest(lead ...any) []any {
	dest := append(lead, &r.op.Parent, &r.op.State, &r.op.Metadata, &r.op.Response, &r.errorStatus, &r.errorCode, &r.leaseExpire)
	if r.live {
		dest = append(dest, &r.op.Attempt, &r.lastError, &r.deadline)
	}
	return dest
}

// Operation returns the operation scanned, without its ID (the caller's to
// set), with its lease's expiry read by toTime.
func (r *BriefRow[T]) Operation(toTime func(T) time.Time) *lrostore.Operation {
	op := &r.op
	switch op.State {
	case lrostore.StateRunning:
		op.LeaseExpireTime = toTime(r.leaseExpire)
	case lrostore.StatePending:
		op.NotBefore = toTime(r.leaseExpire)
	}
	op.Deadline = toTime(r.deadline)
	if r.errorCode.Valid {
		op.Error = &lrostore.Failure{Code: r.errorCode.Int32, Status: r.errorStatus}
	}
	if r.lastError != nil {
		op.LastError = LastFailure(r.lastError)
	}
	return op
}

// FailureColumns returns what f stores in the columns error, error_code
// and error_message (its message made storable: text holds no NUL); ok is
// false when f is nil, which stores NULL in all three.
func FailureColumns(f *lrostore.Failure) (status []byte, code int32, message string, ok bool) {
	if f == nil {
		return nil, 0, "", false
	}
	return f.Status, f.Code, lrostore.StorableText(f.Message), true
}

// Row is a row of either driver.
type Row interface{ Scan(dest ...any) error }

// Rows are the rows of a query of either driver, which the caller closes.
type Rows interface {
	Row
	Next() bool
	Err() error
}

// ScanOperation scans a row of Columns; interpret translates the driver's
// error.
func ScanOperation[T any](row Row, toTime func(T) time.Time, interpret func(error) error) (*lrostore.Operation, error) {
	var r OperationRow[T]
	if err := row.Scan(r.Dest()...); err != nil {
		return nil, interpret(err)
	}
	return r.Operation(toTime), nil
}

// ScanOperations scans rows of Columns until the last.
func ScanOperations[T any](rows Rows, toTime func(T) time.Time, interpret func(error) error) ([]*lrostore.Operation, error) {
	var ops []*lrostore.Operation
	for rows.Next() {
		op, err := ScanOperation(rows, toTime, interpret)
		if err != nil {
			return nil, err
		}
		ops = append(ops, op)
	}
	return ops, interpret(rows.Err())
}

// ScanCounts scans rows of a name and a count, such as pending operations
// by kind, until the last.
func ScanCounts(rows Rows, interpret func(error) error) (map[string]int64, error) {
	counts := map[string]int64{}
	for rows.Next() {
		var (
			name string
			n    int64
		)
		if err := rows.Scan(&name, &n); err != nil {
			return nil, interpret(err)
		}
		counts[name] = n
	}
	if err := rows.Err(); err != nil {
		return nil, interpret(err)
	}
	return counts, nil
}

// ScanBrief scans a row of BriefColumns after the leading columns that
// lead receives. The operation's ID is the caller's to set.
func ScanBrief[T any](row Row, toTime func(T) time.Time, interpret func(error) error, lead ...any) (*lrostore.Operation, error) {
	var r BriefRow[T]
	if err := row.Scan(r.Dest(lead...)...); err != nil {
		return nil, interpret(err)
	}
	return r.Operation(toTime), nil
}

// ScanLive scans a row of LiveColumns, after the leading columns that lead
// receives, as ScanBrief does a row of BriefColumns.
func ScanLive[T any](row Row, toTime func(T) time.Time, interpret func(error) error, lead ...any) (*lrostore.Operation, error) {
	r := BriefRow[T]{live: true}
	if err := row.Scan(r.Dest(lead...)...); err != nil {
		return nil, interpret(err)
	}
	return r.Operation(toTime), nil
}

// AttemptsColumns are the columns that ScanOperationAttempts reads after
// Columns: the closed records, then the current claim (see storekit's
// attempts.go), each after prefix.
func AttemptsColumns(prefix string) string {
	return prefix + "attempts, " + prefix + "claim_time, " + prefix + "claim_owner, " + prefix + "due_time"
}

// ScanOperationAttempts scans a row of Columns followed by
// AttemptsColumns, as ScanOperation scans a row of Columns, and reads the
// operation's attempt history from them (History).
func ScanOperationAttempts[T any](row Row, toTime func(T) time.Time, interpret func(error) error) (*lrostore.Operation, error) {
	var r OperationRow[T]
	var (
		attempts       []byte
		claimTime, due T
		owner          pgtype.Text
	)
	if err := row.Scan(append(r.Dest(), &attempts, &claimTime, &owner, &due)...); err != nil {
		return nil, interpret(err)
	}
	op := r.Operation(toTime)
	op.Attempts = History(op, attempts, Claim{Time: toTime(claimTime), Due: toTime(due), Owner: owner.String})
	return op, nil
}
