package server

import (
	"context"
	"log/slog"

	"cloud.google.com/go/longrunning/autogen/longrunningpb"
	"google.golang.org/genproto/googleapis/rpc/code"
	"google.golang.org/grpc"
	"google.golang.org/grpc/status"

	"lro.dev/lro/lroauth"
	"lro.dev/lro/lropb"
)

// The keys of the audit log's attributes.
const (
	auditPrincipalKey = "principal"
	auditMethodKey    = "method"
	auditNameKey      = "name"
	auditNamesKey     = "names"
	auditOutcomesKey  = "outcomes"
	auditKindKey      = "kind"
	auditParentKey    = "parent"
	auditCodeKey      = "code"
)

// auditMessage is the message of every audit line.
const auditMessage = "audit"

// auditLog logs, at info, one line for each call that changes
// operations: StartOperation (the new operation's name, its kind and
// parent), CancelOperation and DeleteOperation (the name), and
// FinishOperations (each name, and its outcome: the google.rpc.Code of
// its result, in the same order); with the caller's principal, if any,
// and the method. A call that fails, refused by authorization or
// otherwise, is logged too, with its code. Other calls cost a switch on
// the method; a logger above info, one call to Enabled.
type auditLog struct {
	logger *slog.Logger
}

func (a auditLog) intercept(ctx context.Context, req any, info *grpc.UnaryServerInfo, handler grpc.UnaryHandler) (any, error) {
	switch info.FullMethod {
	case lroauth.MethodStartOperation, lroauth.MethodCancelOperation, lroauth.MethodDeleteOperation, lroauth.MethodFinishOperations:
	default:
		return handler(ctx, req)
	}
	resp, err := handler(ctx, req)
	if a.logger.Enabled(ctx, slog.LevelInfo) {
		a.log(ctx, info.FullMethod, req, resp, err)
	}
	return resp, err
}

func (a auditLog) log(ctx context.Context, method string, req, resp any, err error) {
	attrs := make([]slog.Attr, 0, 6)
	if p := lroauth.FromContext(ctx); p != nil {
		attrs = append(attrs, slog.String(auditPrincipalKey, p.Name))
	}
	attrs = append(attrs, slog.String(auditMethodKey, method))
	switch r := req.(type) {
	case *lropb.StartOperationRequest:
		if op, ok := resp.(*longrunningpb.Operation); ok && err == nil {
			attrs = append(attrs, slog.String(auditNameKey, op.GetName()))
		}
		attrs = append(attrs, slog.String(auditKindKey, r.GetKind()), slog.String(auditParentKey, r.GetParent()))
	case interface{ GetName() string }: // cancel, delete
		attrs = append(attrs, slog.String(auditNameKey, r.GetName()))
	case *lropb.FinishOperationsRequest:
		items := r.GetResults()
		names := make([]string, len(items))
		for i, it := range items {
			names[i] = it.GetName()
		}
		attrs = append(attrs, slog.Any(auditNamesKey, names))
		if fin, ok := resp.(*lropb.FinishOperationsResponse); ok && err == nil {
			outcomes := make([]string, len(fin.GetResults()))
			for i, st := range fin.GetResults() {
				outcomes[i] = code.Code(st.GetCode()).String()
			}
			attrs = append(attrs, slog.Any(auditOutcomesKey, outcomes))
		}
	}
	if err != nil {
		attrs = append(attrs, slog.String(auditCodeKey, code.Code(status.Code(err)).String()))
	}
	a.logger.LogAttrs(ctx, slog.LevelInfo, auditMessage, attrs...)
}
