package lroauth_test

import (
	"context"
	"testing"

	"github.com/stretchr/testify/require"

	"lro.dev/lro/lroauth"
)

func TestParseGrant(t *testing.T) {
	t.Parallel()
	tests := []struct {
		in      string
		want    lroauth.Grant
		wantErr string
	}{
		{in: "reader:*", want: lroauth.Grant{Role: lroauth.RoleReader, Pattern: "*"}},
		{in: "reader:", want: lroauth.Grant{Role: lroauth.RoleReader, Pattern: ""}},
		{in: "operator:projects/p1/locations/*", want: lroauth.Grant{Role: lroauth.RoleOperator, Pattern: "projects/p1/locations/*"}},
		{in: "starter:projects/*", want: lroauth.Grant{Role: lroauth.RoleStarter, Pattern: "projects/*"}},
		{in: "worker:images.*", want: lroauth.Grant{Role: lroauth.RoleWorker, Pattern: "images.*"}},
		{in: "worker:*", want: lroauth.Grant{Role: lroauth.RoleWorker, Pattern: "*"}},
		{in: "admin:projects", want: lroauth.Grant{Role: lroauth.RoleAdmin, Pattern: "projects"}},
		{in: "reader", wantErr: "want ROLE:PATTERN"},
		{in: "owner:*", wantErr: `unknown role "owner"`},
		{in: "Reader:*", wantErr: `unknown role "Reader"`},
		{in: "worker:", wantErr: "empty kind pattern"},
		{in: "reader:projects//locations/x", wantErr: "empty segment"},
		{in: "reader:projects/p*", wantErr: "whole segment"},
		{in: "worker:images.re*", wantErr: "whole segment"},
		{in: "worker:images..x", wantErr: "empty segment"},
		{in: "reader:projects/p 1", wantErr: "has a space"},
		{in: "reader:projects/p1/locations", wantErr: "even number of segments"},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			g, err := lroauth.ParseGrant(tt.in)
			if tt.wantErr != "" {
				require.ErrorContains(t, err, tt.wantErr)
				return
			}
			require.NoError(t, err)
			require.Equal(t, tt.want, g)
			require.Equal(t, tt.in, g.String())
		})
	}
}

func TestParseGrants(t *testing.T) {
	t.Parallel()
	gs, err := lroauth.ParseGrants([]string{"reader:*", "worker:a.b"})
	require.NoError(t, err)
	require.Len(t, gs, 2)
	_, err = lroauth.ParseGrants([]string{"reader:*", "nope"})
	require.ErrorContains(t, err, `grant "nope"`)
}

func TestGrantMatches(t *testing.T) {
	t.Parallel()
	tests := []struct {
		grant    string
		role     lroauth.Role
		resource string
		want     bool
	}{
		// "*" alone: every parent, the default collection included.
		{"reader:*", lroauth.RoleReader, "", true},
		{"reader:*", lroauth.RoleReader, "projects/p1/locations/l1", true},
		// The empty pattern: the default collection only.
		{"reader:", lroauth.RoleReader, "", true},
		{"reader:", lroauth.RoleReader, "projects/p1", false},
		// "*" is one segment.
		{"reader:projects/p1/locations/*", lroauth.RoleReader, "projects/p1/locations/l1", true},
		{"reader:projects/p1/locations/*", lroauth.RoleReader, "projects/p2/locations/l1", false},
		{"reader:projects/p1/locations/*", lroauth.RoleReader, "projects/p1/locations/l1/x/y", false},
		{"reader:projects/p1/locations/*", lroauth.RoleReader, "projects/p1", false},
		{"reader:projects/p1/locations/*", lroauth.RoleReader, "", false},
		{"reader:projects/*", lroauth.RoleReader, "projects/p1", true},
		{"reader:projects/*", lroauth.RoleReader, "projects/p1/locations/l1", false},
		// Role inclusion.
		{"operator:*", lroauth.RoleReader, "x/y", true},
		{"operator:*", lroauth.RoleStarter, "x/y", true},
		{"operator:*", lroauth.RoleOperator, "x/y", true},
		{"starter:*", lroauth.RoleOperator, "x/y", false},
		{"reader:*", lroauth.RoleStarter, "x/y", false},
		{"operator:*", lroauth.RoleWorker, "images", false},
		{"operator:*", lroauth.RoleAdmin, "x/y", false},
		{"worker:*", lroauth.RoleReader, "", false},
		{"admin:*", lroauth.RoleOperator, "x/y", true},
		{"admin:*", lroauth.RoleWorker, "images.resize", true},
		{"admin:projects/p1", lroauth.RoleReader, "projects/p1", true},
		{"admin:projects/p1", lroauth.RoleReader, "projects/p2", false},
		// Worker kind patterns: "*" is one dot-separated part.
		{"worker:images.*", lroauth.RoleWorker, "images.resize", true},
		{"worker:images.*", lroauth.RoleWorker, "images", false},
		{"worker:images.*", lroauth.RoleWorker, "images.resize.big", false},
		{"worker:images.*", lroauth.RoleWorker, "videos.resize", false},
		{"worker:images.resize", lroauth.RoleWorker, "images.resize", true},
		{"worker:*", lroauth.RoleWorker, "anything.at.all", true},
		{"worker:*", lroauth.RoleWorker, "*", true},
		{"worker:images.resize", lroauth.RoleWorker, "*", false},
	}
	for _, tt := range tests {
		g, err := lroauth.ParseGrant(tt.grant)
		require.NoError(t, err)
		require.Equal(t, tt.want, g.Matches(tt.role, tt.resource), "%s Matches(%s, %q)", tt.grant, tt.role, tt.resource)
	}
}

func TestPrincipalCan(t *testing.T) {
	t.Parallel()
	var nobody *lroauth.Principal
	require.False(t, nobody.Can(lroauth.RoleReader, ""))
	require.False(t, nobody.CanAny(lroauth.RoleReader))
	grants, err := lroauth.ParseGrants([]string{"starter:projects/p1/locations/*", "worker:images.*"})
	require.NoError(t, err)
	p := &lroauth.Principal{Name: "ci", Grants: grants}
	require.True(t, p.Can(lroauth.RoleReader, "projects/p1/locations/l1"))
	require.True(t, p.Can(lroauth.RoleStarter, "projects/p1/locations/l1"))
	require.False(t, p.Can(lroauth.RoleOperator, "projects/p1/locations/l1"))
	require.True(t, p.Can(lroauth.RoleWorker, "images.resize"))
	require.False(t, p.Can(lroauth.RoleWorker, "videos.resize"))
	require.True(t, p.CanAny(lroauth.RoleWorker))
	require.False(t, p.CanAny(lroauth.RoleOperator))
}

func TestRoleString(t *testing.T) {
	t.Parallel()
	for _, r := range []lroauth.Role{lroauth.RoleReader, lroauth.RoleStarter, lroauth.RoleOperator, lroauth.RoleWorker, lroauth.RoleAdmin} {
		got, err := lroauth.ParseRole(r.String())
		require.NoError(t, err)
		require.Equal(t, r, got)
	}
	require.Equal(t, "Role(9)", lroauth.Role(9).String())
	require.Equal(t, "Role(0)", lroauth.Role(0).String())
}

func TestContext(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	require.Nil(t, lroauth.FromContext(ctx))
	p := &lroauth.Principal{Name: "x"}
	require.Same(t, p, lroauth.FromContext(lroauth.NewContext(ctx, p)))
}
