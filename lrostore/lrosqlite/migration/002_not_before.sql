-- Delayed operations: a pending operation with not_before waits until then.
ALTER TABLE lro_operation ADD COLUMN not_before INTEGER;

-- Claims take the oldest pending operations that do not wait through
-- lro_operation_pending, and those that wait and are due through
-- lro_operation_waiting, in the order they become due: rows still waiting
-- are never read by a claim, however many there are.
DROP INDEX lro_operation_pending;
CREATE INDEX lro_operation_pending ON lro_operation (id) WHERE state = 0 AND not_before IS NULL;
CREATE INDEX lro_operation_waiting ON lro_operation (kind, not_before, id) WHERE state = 0 AND not_before IS NOT NULL;
