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

// validateParent checks a parent resource name (AIP-122): "" or an even
// number of segments that alternate between collection IDs and resource IDs,
// such as "projects/p/locations/l". A collection ID is lowerCamelCase
// ([a-z][a-zA-Z0-9]*); a resource ID holds letters, digits and the other
// characters that a URL path takes unescaped ('-', '.', '_', '~'), and is
// not "." or "..". So every parent names an operation that an HTTP route can
// reach, and every name is valid UTF-8.
func validateParent(parent string) error {
	if parent == "" {
		return nil
	}
	if len(parent) > maxNameLen {
		return invalidArgument("parent", "INVALID_PARENT", "parent is longer than %d bytes", maxNameLen)
	}
	n := 0
	for rest := parent; ; n++ {
		segment, after, more := strings.Cut(rest, "/")
		if segment == "" {
			return invalidArgument("parent", "INVALID_PARENT", "parent %q has an empty segment: want collection/id pairs, as in projects/p/locations/l", parent)
		}
		if n%2 == 0 && !isCollectionID(segment) {
			return invalidArgument("parent", "INVALID_PARENT",
				"parent %q: %q is not a collection ID: want lowerCamelCase letters and digits, as in projects/p/locations/l", parent, segment)
		}
		if n%2 == 1 && !isResourceID(segment) {
			return invalidArgument("parent", "INVALID_PARENT",
				"parent %q: %q is not a resource ID: want letters, digits, '-', '.', '_' or '~' (AIP-122), not \".\" or \"..\"", parent, segment)
		}
		if !more {
			break
		}
		rest = after
	}
	if n%2 == 0 {
		return invalidArgument("parent", "INVALID_PARENT", "parent %q must have an even number of segments, as in projects/p/locations/l", parent)
	}
	return nil
}

// isCollectionID reports whether s is a collection ID: [a-z][a-zA-Z0-9]*.
func isCollectionID(s string) bool {
	if s == "" || s[0] < 'a' || s[0] > 'z' {
		return false
	}
	for i := 1; i < len(s); i++ {
		if c := s[i]; !isLetter(c) && !isDigit(c) {
			return false
		}
	}
	return true
}

// isResourceID reports whether s is a resource ID: letters, digits, '-',
// '.', '_' and '~', other than "." and "..".
func isResourceID(s string) bool {
	if s == "" || s == "." || s == ".." {
		return false
	}
	for i := 0; i < len(s); i++ {
		if c := s[i]; !isLetter(c) && !isDigit(c) && c != '-' && c != '.' && c != '_' && c != '~' {
			return false
		}
	}
	return true
}

func isLetter(c byte) bool { return 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' }
func isDigit(c byte) bool  { return '0' <= c && c <= '9' }

func cutLast(s, sep string) (before, after string, found bool) {
	if i := strings.LastIndex(s, sep); i >= 0 {
		return s[:i], s[i+len(sep):], true
	}
	return s, "", false
}

// OperationParent returns the parent of the operation that name names: ""
// for "operations/{id}", "{parent}" for "{parent}/operations/{id}". A
// malformed name is the INVALID_ARGUMENT error that a call on it gets. It
// reads nothing, so a server can decide whether a caller may touch the
// operation (by its parent) before anything is read; lrogrpc's
// authorization does.
func OperationParent(name string) (string, error) {
	parent, _, err := parseName("name", name)
	return parent, err
}

// CollectionParent returns the parent whose operations a ListOperations
// name designates: the collection ("operations" or "{parent}/operations"),
// or the parent itself. A malformed name is the INVALID_ARGUMENT error that
// ListOperations returns for it. Like OperationParent, it is for deciding
// on a list before it runs.
func CollectionParent(name string) (string, error) {
	return parseCollection("name", name)
}
