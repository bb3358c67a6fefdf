-- Retries and deadlines.
--   last_error: the google.rpc.Status of the latest attempt that failed and
--     left the operation to run again (its error stays NULL until it is
--     done); the operation waits, pending, until its not_before.
--   deadline (microseconds): when the operation ends with
--     DEADLINE_EXCEEDED if it is not done by then.
ALTER TABLE lro_operation ADD COLUMN last_error BLOB;
ALTER TABLE lro_operation ADD COLUMN deadline INTEGER;

-- The rescuer ends the operations whose deadline passed; the index holds
-- only those that have one and are not done.
CREATE INDEX lro_operation_deadline ON lro_operation (deadline) WHERE deadline IS NOT NULL AND state < 2;
