package storekit

import (
	"errors"

	"lro.dev/lro/lrostore"
)

// Errors describes a driver's errors, for InterpretError.
type Errors struct {
	// NoRows is the driver's error for a row read that found none.
	NoRows error
	// Closed reports whether an error says that the database handle or
	// pool was closed.
	Closed func(error) bool
	// Permanent reports whether the database refused a statement or its
	// data for a reason that repeating it cannot change.
	Permanent func(error) bool
}

// InterpretError is the one place driver errors become store errors: no
// rows become lrostore.ErrNotFound, a closed handle lrostore.ErrClosed, and
// a permanent refusal an *lrostore.PermanentError. Other errors pass.
func (e *Errors) InterpretError(err error) error {
	switch {
	case err == nil:
		return nil
	case errors.Is(err, e.NoRows):
		return lrostore.ErrNotFound
	case e.Closed(err):
		return lrostore.ErrClosed
	case e.Permanent(err):
		return &lrostore.PermanentError{Err: err}
	}
	return err
}
