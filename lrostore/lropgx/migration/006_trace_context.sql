-- The W3C trace context of the start, as in the SQLite store
-- (lrostore/lrosqlite/migration/005_trace_context.sql).
ALTER TABLE lro_operation ADD COLUMN trace_context text;
