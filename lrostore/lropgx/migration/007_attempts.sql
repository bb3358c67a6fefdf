-- The history of the operation's latest attempts, as in the SQLite store
-- (lrostore/lrosqlite/migration/006_attempts.sql): the current claim in
-- plain columns, the claims that ended while the operation stayed to run
-- again as JSON records.
ALTER TABLE lro_operation ADD COLUMN attempts jsonb,
	ADD COLUMN claim_time timestamptz,
	ADD COLUMN claim_owner text,
	ADD COLUMN due_time timestamptz;
