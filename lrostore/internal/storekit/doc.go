// Package storekit is what lro's stores share beyond their SQL dialects:
// the state values their statements use, the operation columns and how a
// row of them becomes an lrostore.Operation, the guards on Limit and Max,
// the rules that decide a rescued or cancelled operation's fate, the error
// translation common to both drivers, and the migration runner.
//
// The stores (lrostore/lrosqlite and lrostore/lropgx) keep only what their
// database needs: the text of their statements, how they bind arguments,
// and their driver's errors.
package storekit
