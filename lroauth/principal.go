package lroauth

import (
	"context"
	"fmt"
	"slices"
	"strings"
)

// A Role is what a grant allows. Each role but RoleWorker includes the ones
// before it; RoleAdmin includes every role.
type Role uint8

// The roles.
const (
	// RoleReader may get, list and wait for operations, and list kinds.
	RoleReader Role = iota + 1
	// RoleStarter may also start operations.
	RoleStarter
	// RoleOperator may also cancel and delete operations.
	RoleOperator
	// RoleWorker may use the Workers service for the kinds its grant
	// names: its PATTERN matches kind names, not parents.
	RoleWorker
	// RoleAdmin may do everything, on every parent and kind that its
	// pattern matches (as a parent pattern and as a kind pattern).
	RoleAdmin
)

var roleNames = [...]string{RoleReader: "reader", RoleStarter: "starter", RoleOperator: "operator", RoleWorker: "worker", RoleAdmin: "admin"}

// String returns the role's name, as grants spell it.
func (r Role) String() string {
	if int(r) < len(roleNames) && roleNames[r] != "" {
		return roleNames[r]
	}
	return fmt.Sprintf("Role(%d)", r)
}

// ParseRole returns the role of a name: reader, starter, operator, worker
// or admin.
func ParseRole(name string) (Role, error) {
	for r, n := range roleNames {
		if n != "" && n == name {
			return Role(r), nil
		}
	}
	return 0, fmt.Errorf("unknown role %q: want reader, starter, operator, worker or admin", name)
}

// includes reports whether holding r allows what want allows.
func (r Role) includes(want Role) bool {
	switch {
	case r == RoleAdmin:
		return true
	case r == RoleWorker || want == RoleWorker:
		return r == want
	default:
		return r >= want
	}
}

// A Grant gives a role on the parents (for RoleWorker, the kinds) that its
// pattern matches.
//
// A parent pattern has the segments of a parent, "projects/p1/locations/*",
// in which "*" stands for any one segment; "*" alone matches every parent,
// the default collection (the empty parent) included, and the empty pattern
// only the default collection. A kind pattern is a kind name, in which "*"
// stands for any one dot-separated part ("images.*" matches
// "images.resize"); "*" alone matches every kind.
type Grant struct {
	Role    Role
	Pattern string
}

// ParseGrant parses ROLE:PATTERN, such as "operator:projects/p1/locations/*"
// or "worker:images.*".
func ParseGrant(s string) (Grant, error) {
	role, pattern, ok := strings.Cut(s, ":")
	if !ok {
		return Grant{}, fmt.Errorf("grant %q: want ROLE:PATTERN, such as reader:* or operator:projects/p1/locations/*", s)
	}
	r, err := ParseRole(role)
	if err != nil {
		return Grant{}, fmt.Errorf("grant %q: %w", s, err)
	}
	if err := checkPattern(r, pattern); err != nil {
		return Grant{}, fmt.Errorf("grant %q: %w", s, err)
	}
	return Grant{Role: r, Pattern: pattern}, nil
}

// ParseGrants parses each of grants with ParseGrant.
func ParseGrants(grants []string) ([]Grant, error) {
	out := make([]Grant, 0, len(grants))
	for _, s := range grants {
		g, err := ParseGrant(s)
		if err != nil {
			return nil, err
		}
		out = append(out, g)
	}
	return out, nil
}

// String returns ROLE:PATTERN.
func (g Grant) String() string { return g.Role.String() + ":" + g.Pattern }

func checkPattern(r Role, pattern string) error {
	if pattern == "" || pattern == "*" {
		if pattern == "" && r == RoleWorker {
			return fmt.Errorf("empty kind pattern: want a kind name, such as images.resize, or *")
		}
		return nil
	}
	sep := "/"
	if r == RoleWorker {
		sep = "."
	}
	for seg := range strings.SplitSeq(pattern, sep) {
		if seg == "" {
			return fmt.Errorf("pattern %q has an empty segment", pattern)
		}
		if strings.Contains(seg, "*") && seg != "*" {
			return fmt.Errorf("pattern %q: * stands for a whole segment, not part of one", pattern)
		}
		if strings.ContainsAny(seg, " \t\n") {
			return fmt.Errorf("pattern %q has a space", pattern)
		}
	}
	if r != RoleWorker && r != RoleAdmin && strings.Count(pattern, "/")%2 == 0 {
		return fmt.Errorf("pattern %q: a parent has an even number of segments, such as projects/*/locations/*", pattern)
	}
	return nil
}

// matchPattern reports whether name matches pattern, segment by segment
// with separator sep.
func matchPattern(pattern, name, sep string) bool {
	if pattern == "*" {
		return true
	}
	if pattern == "" || name == "" {
		return pattern == name
	}
	for {
		p, prest, pmore := strings.Cut(pattern, sep)
		n, nrest, nmore := strings.Cut(name, sep)
		if pmore != nmore || (p != "*" && p != n) {
			return false
		}
		if !pmore {
			return true
		}
		pattern, name = prest, nrest
	}
}

// Matches reports whether the grant gives role on resource: a parent, or
// for RoleWorker a kind.
func (g Grant) Matches(role Role, resource string) bool {
	if !g.Role.includes(role) {
		return false
	}
	sep := "/"
	if role == RoleWorker {
		sep = "."
	}
	return matchPattern(g.Pattern, resource, sep)
}

// A Principal is an authenticated caller.
type Principal struct {
	// Name identifies the caller in logs and limits: a token's principal,
	// a JWT's subject, a client certificate's subject.
	Name string
	// Grants are what the caller may do.
	Grants []Grant
}

// Can reports whether p holds role on resource: a parent, or for RoleWorker
// a kind.
func (p *Principal) Can(role Role, resource string) bool {
	return p != nil && slices.ContainsFunc(p.Grants, func(g Grant) bool { return g.Matches(role, resource) })
}

// CanAny reports whether p holds role on some resource.
func (p *Principal) CanAny(role Role) bool {
	return p != nil && slices.ContainsFunc(p.Grants, func(g Grant) bool { return g.Role.includes(role) })
}

type principalKey struct{}

// NewContext returns ctx with the principal p, which the authorization of
// lro's services reads.
func NewContext(ctx context.Context, p *Principal) context.Context {
	return context.WithValue(ctx, principalKey{}, p)
}

// FromContext returns the principal of ctx, or nil.
func FromContext(ctx context.Context) *Principal {
	p, _ := ctx.Value(principalKey{}).(*Principal)
	return p
}
