package lrostoretest

import (
	"context"
	"testing"

	"github.com/google/uuid"
	"github.com/stretchr/testify/require"

	"lro.dev/lro/lrostore"
)

// runText checks that what a handler gives is stored: bytes exactly, and
// the text of a failure's message as StorableText makes it.
func runText(t *testing.T, newStore NewStore) {
	t.Run("FailureWithNULAndInvalidUTF8", func(t *testing.T) {
		t.Parallel()
		b := setup(t, newStore)
		b.insert(t, 2)
		ops := b.claim(t, 2, b.now)
		status := []byte("a\x00b\xffc\xc3") // the encoded status: bytes, kept exactly
		message := "a\x00b\xffc\xc3"
		failure := &lrostore.Failure{Code: 3, Message: message, Status: status}
		res := b.finish(t, &lrostore.OperationFinishParams{Lease: lease(ops[0]), State: lrostore.StateFailed, Error: failure,
			Metadata: []byte("m\x00\xff"), MetadataType: "type.googleapis.com/M"})
		require.Equal(t, &lrostore.OperationFinishResult{Finished: true, State: lrostore.StateFailed}, res)
		got := b.get(t, ops[0].ID)
		require.Equal(t, &lrostore.Failure{Code: 3, Message: "a\uFFFDb\uFFFDc\uFFFD", Status: status}, got.Error)
		require.Equal(t, []byte("m\x00\xff"), got.Metadata)
		require.Equal(t, "a\x00b\xffc\xc3", message, "the caller's failure is not changed")

		expr, err := lrostore.ParseFilter("error.message = \"a\uFFFDb\uFFFDc\uFFFD\"")
		require.NoError(t, err)
		listed, err := b.store.OperationList(b.ctx, &lrostore.OperationListParams{Filter: expr, Limit: 10})
		require.NoError(t, err)
		require.Equal(t, []string{ops[0].ID}, ids(listed), "filters read the stored text")

		res = b.finish(t, &lrostore.OperationFinishParams{Lease: lease(ops[1]), State: lrostore.StateSucceeded,
			Response: []byte("r\x00\xff"), ResponseType: "type.googleapis.com/R"})
		require.True(t, res.Finished)
		require.Equal(t, []byte("r\x00\xff"), b.get(t, ops[1].ID).Response)
	})
	t.Run("CancelledErrorWithNUL", func(t *testing.T) {
		t.Parallel()
		b := setup(t, newStore)
		op := b.insert(t, 1)[0]
		got, err := b.store.OperationCancel(b.ctx, &lrostore.OperationCancelParams{ID: op.ID,
			CancelledError: &lrostore.Failure{Code: 1, Message: "x\x00", Status: []byte("s\x00")}})
		require.NoError(t, err)
		require.Equal(t, &lrostore.Failure{Code: 1, Message: "x\uFFFD", Status: []byte("s\x00")}, got.Operation.Error)
	})
}

// runPermanentErrors checks which errors the store says are permanent.
func runPermanentErrors(t *testing.T, newStore NewStore) {
	t.Run("ConstraintIsPermanent", func(t *testing.T) {
		t.Parallel()
		b := setup(t, newStore)
		op := b.insert(t, 1)[0]
		_, err := b.store.OperationInsertMany(b.ctx, &lrostore.OperationInsertManyParams{Now: b.now,
			Operations: []*lrostore.OperationInsertParams{{ID: op.ID, Kind: "k", Input: []byte("x"), MaxAttempts: 1}}})
		require.Error(t, err, "an ID that is taken")
		require.True(t, lrostore.IsPermanent(err), "%v", err)
	})
	t.Run("CancelledCallIsNotPermanent", func(t *testing.T) {
		t.Parallel()
		b := setup(t, newStore)
		ctx, cancel := context.WithCancel(b.ctx)
		cancel()
		_, err := b.store.OperationInsertMany(ctx, &lrostore.OperationInsertManyParams{Now: b.now,
			Operations: []*lrostore.OperationInsertParams{{ID: uuid.Must(uuid.NewV7()).String(), Kind: "k", Input: []byte("x"), MaxAttempts: 1}}})
		require.Error(t, err)
		require.False(t, lrostore.IsPermanent(err), "%v", err)
	})
	t.Run("ClosedIsNotPermanent", func(t *testing.T) {
		t.Parallel()
		b := setup(t, newStore)
		require.NoError(t, b.store.Close())
		_, err := b.store.OperationGet(b.ctx, &lrostore.OperationGetParams{ID: uuid.Must(uuid.NewV7()).String()})
		require.ErrorIs(t, err, lrostore.ErrClosed)
		require.False(t, lrostore.IsPermanent(err))
	})
}
