package lrostore

import (
	"errors"
	"strings"
	"unicode/utf8"
)

// PermanentError wraps a store error that repeating the same call cannot
// fix: the database refused the data or the statement itself (a value it
// cannot hold, a constraint, a row over its limits). Each store decides,
// in the one place where it interprets its driver's errors, which of them
// are permanent; every other error (a lost connection, a timeout, a
// deadlock or serialization failure, a full disk, a database shutting
// down) may pass when the call is repeated.
type PermanentError struct {
	Err error
}

func (e *PermanentError) Error() string { return e.Err.Error() }

// Unwrap returns the driver's error.
func (e *PermanentError) Unwrap() error { return e.Err }

// IsPermanent reports whether err is, or wraps, a PermanentError: whether
// repeating the call that returned it is bound to fail again.
func IsPermanent(err error) bool {
	var p *PermanentError
	return errors.As(err, &p)
}

// StorableText returns s as every store's text columns hold it: each NUL
// byte and each invalid UTF-8 sequence becomes U+FFFD (PostgreSQL's text
// holds neither). It returns s itself, without copying, when s has none.
//
// Stores apply it to the one text column that a handler's words reach,
// Failure.Message, the copy of the status message that filters read; the
// operation's error itself, Failure.Status, is bytes, and kept exactly.
func StorableText(s string) string {
	if strings.IndexByte(s, 0) < 0 && utf8.ValidString(s) {
		return s
	}
	return strings.ReplaceAll(strings.ToValidUTF8(s, "\uFFFD"), "\x00", "\uFFFD")
}
