package lroauth

import (
	"context"
	"fmt"

	"google.golang.org/grpc/codes"

	"lro.dev/lro"
)

// The methods of lro's services, as Call.Method gives them: gRPC's full
// method names.
const (
	MethodGetOperation      = "/google.longrunning.Operations/GetOperation"
	MethodListOperations    = "/google.longrunning.Operations/ListOperations"
	MethodWaitOperation     = "/google.longrunning.Operations/WaitOperation"
	MethodCancelOperation   = "/google.longrunning.Operations/CancelOperation"
	MethodDeleteOperation   = "/google.longrunning.Operations/DeleteOperation"
	MethodStartOperation    = "/lro.v1.Lro/StartOperation"
	MethodListKinds         = "/lro.v1.Lro/ListKinds"
	MethodClaimOperations   = "/lro.v1.Workers/ClaimOperations"
	MethodRenewLeases       = "/lro.v1.Workers/RenewLeases"
	MethodFinishOperations  = "/lro.v1.Workers/FinishOperations"
	MethodReleaseOperations = "/lro.v1.Workers/ReleaseOperations"
)

// A Call is what an AuthorizeFunc decides on.
type Call struct {
	// Method is the gRPC method, one of the Method constants; calls over
	// HTTP give the method they are transcoded to.
	Method string
	// Name is the operation's name, for Get, Wait, Cancel and Delete.
	Name string
	// Parent is the parent of the operation, or of the collection that a
	// list or a start is on ("" for the default collection). It is empty
	// for ListKinds and the Workers service.
	Parent string
	// Kinds are the kind of a start, the kinds a claim asks for (none: any
	// kind), and the kinds of the operations that a worker's renew,
	// finish or release names, as their lease tokens tell.
	Kinds []string
}

// An AuthorizeFunc decides whether the principal p may make call: it
// returns nil if so, else an error, which the caller receives. An
// *lro.Error carries its code; any other error is PERMISSION_DENIED.
// p is nil when the call carries no principal.
type AuthorizeFunc func(ctx context.Context, p *Principal, call *Call) error

// RequiredRole returns the role that method needs: RoleReader for Get,
// List, Wait and ListKinds, RoleStarter for StartOperation, RoleOperator
// for Cancel and Delete, RoleWorker for the Workers service; RoleAdmin for
// any other method.
func RequiredRole(method string) Role {
	switch method {
	case MethodGetOperation, MethodListOperations, MethodWaitOperation, MethodListKinds:
		return RoleReader
	case MethodStartOperation:
		return RoleStarter
	case MethodCancelOperation, MethodDeleteOperation:
		return RoleOperator
	case MethodClaimOperations, MethodRenewLeases, MethodFinishOperations, MethodReleaseOperations:
		return RoleWorker
	}
	return RoleAdmin
}

// Grants is the default AuthorizeFunc: it allows a call if the principal
// holds the role that the method needs (RequiredRole) on the call's parent,
// for the Workers service on each of its kinds (a claim of any kind needs a
// worker grant on "*"), and for ListKinds on some parent.
func Grants(ctx context.Context, p *Principal, call *Call) error {
	if p == nil {
		return Unauthenticated("CREDENTIALS_MISSING", "the call carries no credentials")
	}
	role := RequiredRole(call.Method)
	switch {
	case call.Method == MethodListKinds:
		if p.CanAny(RoleReader) || p.CanAny(RoleWorker) {
			return nil
		}
	case role == RoleWorker:
		if !p.CanAny(RoleWorker) {
			// Even a call whose items name no kind (none decoded) needs
			// the role.
			return denied(p, call, fmt.Sprintf("%s needs a worker grant", p.Name))
		}
		if len(call.Kinds) == 0 && call.Method == MethodClaimOperations {
			if p.Can(RoleWorker, "*") {
				return nil
			}
			return denied(p, call, "a claim of every kind needs worker:*; name the kinds to claim")
		}
		for _, k := range call.Kinds {
			if !p.Can(RoleWorker, k) {
				return denied(p, call, fmt.Sprintf("%s may not work on kind %q", p.Name, k))
			}
		}
		return nil
	case p.Can(role, call.Parent):
		return nil
	}
	return denied(p, call, "")
}

func denied(p *Principal, call *Call, why string) error {
	if why == "" {
		what := "parent " + quoteParent(call.Parent)
		if call.Name != "" {
			what = call.Name
		}
		why = fmt.Sprintf("%s needs the %s role on %s", p.Name, RequiredRole(call.Method), what)
	}
	return &lro.Error{Code: codes.PermissionDenied, Reason: "PERMISSION_DENIED", Message: "permission denied: " + why}
}

func quoteParent(parent string) string {
	if parent == "" {
		return `"" (the default collection)`
	}
	return fmt.Sprintf("%q", parent)
}

// Unauthenticated returns the error of a call whose credentials are
// missing or not valid: UNAUTHENTICATED, with reason as its ErrorInfo's
// reason. The message must not echo the credentials.
func Unauthenticated(reason, message string) error {
	return &lro.Error{Code: codes.Unauthenticated, Reason: reason, Message: "unauthenticated: " + message}
}
