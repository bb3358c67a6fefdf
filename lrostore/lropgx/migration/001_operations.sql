-- The operations, as in the SQLite store (lrostore/lrosqlite/migration), in
-- PostgreSQL types. Text that filters order or compare uses the "C"
-- collation, so that string order is byte-wise, as in SQLite, whatever the
-- database's default collation.
CREATE TABLE lro_operation (
    id                uuid        PRIMARY KEY,
    parent            text        COLLATE "C" NOT NULL,
    kind              text        COLLATE "C" NOT NULL,
    state             smallint    NOT NULL,
    input             bytea       NOT NULL,
    metadata          bytea,
    metadata_type     text        COLLATE "C",
    response          bytea,
    response_type     text        COLLATE "C",
    error             bytea,
    error_code        integer,
    error_message     text        COLLATE "C",
    request_id        text        COLLATE "C",
    request_hash      bytea,
    attempt           integer     NOT NULL DEFAULT 0,
    max_attempts      integer     NOT NULL,
    lease_owner       text,
    lease_token       bigint      NOT NULL DEFAULT 0,
    lease_expire_time timestamptz,
    cancel_requested  boolean     NOT NULL DEFAULT false,
    create_time       timestamptz NOT NULL,
    update_time       timestamptz NOT NULL,
    end_time          timestamptz
);

-- Claims take the oldest pending operations; the index holds pending rows only.
CREATE INDEX lro_operation_pending ON lro_operation (id) WHERE state = 0;

-- The rescuer finds running operations whose lease expired.
CREATE INDEX lro_operation_lease ON lro_operation (lease_expire_time) WHERE state = 1;

-- Lists go through a parent's operations, newest first.
CREATE INDEX lro_operation_parent ON lro_operation (parent, id);

-- AIP-155: one operation per parent and request ID.
CREATE UNIQUE INDEX lro_operation_request ON lro_operation (parent, request_id) WHERE request_id IS NOT NULL;

-- Retention deletes done operations by age.
CREATE INDEX lro_operation_end ON lro_operation (end_time) WHERE end_time IS NOT NULL;

CREATE TABLE lro_key (
    name  text  COLLATE "C" PRIMARY KEY,
    value bytea NOT NULL
);
