package storekit

import (
	"strconv"
	"strings"

	"lro.dev/lro/lrostore"
)

// stateNames replaces the state placeholders of a statement's text with
// lrostore.State's values.
var stateNames = strings.NewReplacer(
	"{pending}", strconv.Itoa(int(lrostore.StatePending)),
	"{running}", strconv.Itoa(int(lrostore.StateRunning)),
	"{succeeded}", strconv.Itoa(int(lrostore.StateSucceeded)),
	"{failed}", strconv.Itoa(int(lrostore.StateFailed)),
	"{cancelled}", strconv.Itoa(int(lrostore.StateCancelled)),
)

// States returns query with its state placeholders ({pending}, {running},
// {succeeded}, {failed} and {cancelled}) replaced by the values of
// lrostore's states, so that the statements of both stores take their
// state numbers from lrostore.State alone. Stores build their statements
// with it once, at package initialisation: the text the database runs is
// plain SQL with number literals, as fast to parse and plan as before.
func States(query string) string { return stateNames.Replace(query) }

// Some statements and stored schemas rely on the numbers themselves rather
// than on a placeholder, and these compile-time checks fail the build if
// lrostore.State is renumbered under them (a constant index out of range
// does not compile):
//   - The migrations already applied to databases hold partial indexes on
//     "state = 0" (pending) and "state = 1" (running), and rows hold the
//     numbers: renumbering needs a migration that rewrites them.
//   - The inserts of both stores write one value as state, attempt and lease
//     token: 0 for a pending operation, 1 for one inserted claimed (its
//     first attempt, its first lease), so running must be 1 and pending 0.
//   - Done is "state >= succeeded" in SQL (filters, deletes, rescues):
//     the done states must be the highest.
var (
	_ = [1]struct{}{}[lrostore.StatePending]
	_ = [1]struct{}{}[lrostore.StateRunning-1]
	_ = [1]struct{}{}[lrostore.StateSucceeded-2]
	_ = [1]struct{}{}[lrostore.StateFailed-3]
	_ = [1]struct{}{}[lrostore.StateCancelled-4]
)
