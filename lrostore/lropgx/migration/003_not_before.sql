-- Delayed operations: a pending operation with not_before waits until then.
ALTER TABLE lro_operation ADD COLUMN not_before timestamptz;

-- Claims take, for each kind, the oldest pending operations that do not wait
-- through lro_operation_pending_kind, and those that wait and are due
-- through lro_operation_waiting_kind, in the order they become due: rows
-- still waiting are never read by a claim, however many there are.
DROP INDEX lro_operation_pending_kind;
CREATE INDEX lro_operation_pending_kind ON lro_operation (kind, id) WHERE state = 0 AND not_before IS NULL;
CREATE INDEX lro_operation_waiting_kind ON lro_operation (kind, not_before, id) WHERE state = 0 AND not_before IS NOT NULL;
