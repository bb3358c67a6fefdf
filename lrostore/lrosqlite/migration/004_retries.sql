-- Retries and deadlines. last_error is the google.rpc.Status of the latest
-- attempt that failed and left the operation to run again (its error stays
-- NULL until it is done); deadline (microseconds) is when the operation
-- ends with DEADLINE_EXCEEDED if it is not done by then.
ALTER TABLE lro_operation ADD COLUMN last_error BLOB;
ALTER TABLE lro_operation ADD COLUMN deadline INTEGER;
ALTER TABLE lro_operation ADD COLUMN not_before INTEGER; -- STOPGAP until delayed starts land

-- The rescuer ends the operations whose deadline passed; the index holds
-- only those that have one and are not done.
CREATE INDEX lro_operation_deadline ON lro_operation (deadline) WHERE deadline IS NOT NULL AND state < 2;
