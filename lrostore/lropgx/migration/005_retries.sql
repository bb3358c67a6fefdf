-- Retries and deadlines, as in the SQLite store
-- (lrostore/lrosqlite/migration/004_retries.sql).
ALTER TABLE lro_operation ADD COLUMN last_error bytea;
ALTER TABLE lro_operation ADD COLUMN deadline timestamptz;

-- The rescuer ends the operations whose deadline passed; the index holds
-- only those that have one and are not done.
CREATE INDEX lro_operation_deadline ON lro_operation (deadline) WHERE deadline IS NOT NULL AND state < 2;
