-- Delayed starts, retries and deadlines.
--   not_before (microseconds): a pending operation is not claimed before
--     then (a delayed start, or a retry's next attempt); NULL runs at once.
--     A claim clears it.
--   last_error: the google.rpc.Status of the latest attempt that failed and
--     left the operation to run again (its error stays NULL until done).
--   deadline (microseconds): when the operation ends with
--     DEADLINE_EXCEEDED if it is not done by then.
ALTER TABLE lro_operation ADD COLUMN not_before INTEGER;
ALTER TABLE lro_operation ADD COLUMN last_error BLOB;
ALTER TABLE lro_operation ADD COLUMN deadline INTEGER;

-- Claims take the operations that run at once from the pending index, as
-- before, and those that wait from an index of their own, by time: a claim
-- reads no waiting operation that is not due, however many wait.
DROP INDEX lro_operation_pending;
CREATE INDEX lro_operation_pending ON lro_operation (id) WHERE state = 0 AND not_before IS NULL;
CREATE INDEX lro_operation_waiting ON lro_operation (not_before, id) WHERE state = 0 AND not_before IS NOT NULL;

-- The rescuer ends the operations whose deadline passed; the index holds
-- only those that have one and are not done.
CREATE INDEX lro_operation_deadline ON lro_operation (deadline) WHERE deadline IS NOT NULL AND state < 2;
