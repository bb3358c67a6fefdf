-- JSON copies of the metadata and the response (protojson, proto field
-- names), which ListOperations filters on metadata.<field> and
-- response.<field> read with -> and ->>. Rows written before this
-- migration have none: such filters do not match them.
ALTER TABLE lro_operation ADD COLUMN metadata_json jsonb;
ALTER TABLE lro_operation ADD COLUMN response_json jsonb;

-- A filter on metadata fields is narrowed to metadata types, those named by
-- metadata.@type or by kind, or else every registered one: a list walks
-- each type's operations of the parent newest first, not the parent's
-- every operation.
CREATE INDEX lro_operation_parent_metadata_type ON lro_operation (parent, metadata_type, id);
