package lro

import (
	"strings"

	"github.com/google/uuid"
)

// collection is the last segment of every operation collection.
const collection = "operations"

// maxNameLen bounds names and parents.
const maxNameLen = 1024

// OperationName returns the name of the operation with the given ID under
// parent: "operations/ID" for the empty parent, else "PARENT/operations/ID".
func OperationName(parent, id string) string {
	if parent == "" {
		return collection + "/" + id
	}
	return parent + "/" + collection + "/" + id
}

// parseName splits an operation name into its parent and ID.
func parseName(field, name string) (parent, id string, err error) {
	if name == "" {
		return "", "", invalidArgument(field, "INVALID_NAME", "%s is required", field)
	}
	if len(name) > maxNameLen {
		return "", "", invalidArgument(field, "INVALID_NAME", "%s is longer than %d bytes", field, maxNameLen)
	}
	rest, idPart, ok := cutLast(name, "/")
	if ok {
		if rest == collection {
			parent = ""
		} else {
			parent, ok = strings.CutSuffix(rest, "/"+collection)
			ok = ok && parent != "" // "/operations/{id}" is not a name
		}
	}
	if !ok || validateParent(parent) != nil {
		return "", "", invalidArgument(field, "INVALID_NAME",
			"%s %q is not an operation name: want operations/{id} or {parent}/operations/{id}", field, name)
	}
	u, err := uuid.Parse(idPart)
	if err != nil || u.String() != idPart {
		return "", "", invalidArgument(field, "INVALID_NAME", "%s %q has a malformed operation ID %q", field, name, idPart)
	}
	return parent, idPart, nil
}

// parseCollection returns the parent that a ListOperations name designates:
// the collection ("operations" or "{parent}/operations"), or the parent
// itself.
func parseCollection(field, name string) (string, error) {
	if name == "" {
		return "", invalidArgument(field, "INVALID_NAME", "%s is required: the collection to list, such as %q", field, collection)
	}
	if len(name) > maxNameLen {
		return "", invalidArgument(field, "INVALID_NAME", "%s is longer than %d bytes", field, maxNameLen)
	}
	parent := name
	if name == collection {
		parent = ""
	} else if p, ok := strings.CutSuffix(name, "/"+collection); ok && p != "" {
		parent = p
	}
	if err := validateParent(parent); err != nil {
		return "", invalidArgument(field, "INVALID_NAME",
			"%s %q is not an operation collection: want %q, {parent}/operations or {parent}", field, name, collection)
	}
	return parent, nil
}

// validateParent checks a parent resource name: "" or an even number of
// non-empty segments of printable characters, such as
// "projects/p/locations/l".
func validateParent(parent string) error {
	if parent == "" {
		return nil
	}
	if len(parent) > maxNameLen {
		return invalidArgument("parent", "INVALID_PARENT", "parent is longer than %d bytes", maxNameLen)
	}
	segments := strings.Split(parent, "/")
	if len(segments)%2 != 0 {
		return invalidArgument("parent", "INVALID_PARENT", "parent %q must have an even number of segments, as in projects/p/locations/l", parent)
	}
	for _, s := range segments {
		if s == "" || strings.ContainsFunc(s, func(r rune) bool { return r <= ' ' || r == 0x7f }) {
			return invalidArgument("parent", "INVALID_PARENT", "parent %q has an empty or unprintable segment", parent)
		}
	}
	return nil
}

func cutLast(s, sep string) (before, after string, found bool) {
	if i := strings.LastIndex(s, sep); i >= 0 {
		return s[:i], s[i+len(sep):], true
	}
	return s, "", false
}
