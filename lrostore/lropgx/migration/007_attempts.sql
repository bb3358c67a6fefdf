-- The history of the operation's latest attempts, as in the SQLite store
-- (lrostore/lrosqlite/migration/006_attempts.sql).
ALTER TABLE lro_operation ADD COLUMN attempts jsonb;
