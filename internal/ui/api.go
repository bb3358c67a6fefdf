package ui

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"lro.dev/lro"
	"lro.dev/lro/lroauth"
)

// session is the answer of GET /ui/api/session: who the caller is, and
// what the page should offer them.
type session struct {
	AuthRequired bool     `json:"authRequired"`
	Principal    string   `json:"principal"`
	Grants       []string `json:"grants"`
	// CanReadAll: the caller may see counts and kinds' statistics, which
	// cover every parent.
	CanReadAll bool `json:"canReadAll"`
	// CanOperate: the caller may cancel or delete some operations; the
	// server still decides on each.
	CanOperate bool `json:"canOperate"`
}

func (h *Handler) session(w http.ResponseWriter, r *http.Request) {
	s := session{Grants: []string{}}
	if h.config.Authenticator == nil {
		s.CanReadAll, s.CanOperate = true, true
	} else {
		p := lroauth.FromContext(r.Context())
		s.AuthRequired = true
		if p != nil {
			s.Principal = p.Name
			for _, g := range p.Grants {
				s.Grants = append(s.Grants, g.String())
			}
		}
		s.CanReadAll = h.readAll(r.Context()) == nil
		s.CanOperate = p.CanAny(lroauth.RoleOperator) ||
			h.allows(r.Context(), &lroauth.Call{Method: lroauth.MethodCancelOperation, Parent: "*"}) == nil
	}
	writeJSON(w, h.config.Logger, s)
}

// allows decides call for the caller of ctx with the server's
// AuthorizeFunc; with no authentication, every call is allowed.
func (h *Handler) allows(ctx context.Context, call *lroauth.Call) error {
	if h.config.Authenticator == nil {
		return nil
	}
	return h.config.Authorize(ctx, lroauth.FromContext(ctx), call)
}

// readAll decides whether the caller may read every parent's operations,
// as counts and kinds' statistics show them: as a list of the parent "*",
// which lroauth.Grants allows to a reader grant on "*".
func (h *Handler) readAll(ctx context.Context) error {
	err := h.allows(ctx, &lroauth.Call{Method: lroauth.MethodListOperations, Parent: "*"})
	if err != nil && status.Code(err) == codes.PermissionDenied {
		return &lro.Error{Code: codes.PermissionDenied, Reason: "PERMISSION_DENIED",
			Message: "permission denied: counts and kinds' statistics cover every parent, and need the reader role on every parent (reader:*)"}
	}
	return err
}

// allowsOperation decides method on the operation name, by its parent.
func (h *Handler) allowsOperation(ctx context.Context, method, name string) error {
	parent, err := lro.OperationParent(name)
	if err != nil {
		return err
	}
	return h.allows(ctx, &lroauth.Call{Method: method, Name: name, Parent: parent})
}

func writeJSON(w http.ResponseWriter, logger *slog.Logger, v any) {
	body, err := json.Marshal(v)
	if err != nil {
		writeError(w, logger, err)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.Write(append(body, '\n'))
}

// grpcStatus is err's status. An error without one is INTERNAL, its text
// logged and not shown: it may name the store's internals.
func grpcStatus(err error, logger *slog.Logger) *status.Status {
	var se interface{ GRPCStatus() *status.Status }
	if errors.As(err, &se) {
		return se.GRPCStatus()
	}
	switch {
	case errors.Is(err, context.Canceled):
		return status.New(codes.Canceled, "the request was cancelled")
	case errors.Is(err, context.DeadlineExceeded):
		return status.New(codes.DeadlineExceeded, "the request's deadline passed")
	}
	logger.Error("dashboard call failed", slog.Any("error", err))
	return status.New(codes.Internal, "internal error; the server's log has the detail")
}
