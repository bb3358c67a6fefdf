package storekit

// NoneSelected reports whether a Limit or Max selects nothing. lrostore's
// rule, which every store applies through this function: a Limit or Max
// that is not positive selects nothing, and the call reads or changes no
// operation (SQLite would read a negative LIMIT as none at all).
func NoneSelected(limit int) bool { return limit <= 0 }
