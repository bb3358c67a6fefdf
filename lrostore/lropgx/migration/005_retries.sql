-- Delayed starts, retries and deadlines, as in the SQLite store
-- (lrostore/lrosqlite/migration/004_retries.sql).
ALTER TABLE lro_operation ADD COLUMN not_before timestamptz;
ALTER TABLE lro_operation ADD COLUMN last_error bytea;
ALTER TABLE lro_operation ADD COLUMN deadline timestamptz;

-- Claims take the operations that run at once by (kind, id), as before,
-- and those that wait by (kind, not_before): a claim reads no waiting
-- operation that is not due, however many wait.
CREATE INDEX lro_operation_pending_now ON lro_operation (kind, id) WHERE state = 0 AND not_before IS NULL;
DROP INDEX lro_operation_pending_kind;
CREATE INDEX lro_operation_waiting ON lro_operation (kind, not_before, id) WHERE state = 0 AND not_before IS NOT NULL;

-- The rescuer ends the operations whose deadline passed; the index holds
-- only those that have one and are not done.
CREATE INDEX lro_operation_deadline ON lro_operation (deadline) WHERE deadline IS NOT NULL AND state < 2;
