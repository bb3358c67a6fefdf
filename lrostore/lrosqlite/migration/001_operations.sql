CREATE TABLE lro_operation (
    id                TEXT    PRIMARY KEY NOT NULL,
    parent            TEXT    NOT NULL,
    kind              TEXT    NOT NULL,
    state             INTEGER NOT NULL,
    input             BLOB    NOT NULL,
    metadata          BLOB,
    metadata_type     TEXT,
    response          BLOB,
    response_type     TEXT,
    error             BLOB,
    error_code        INTEGER,
    error_message     TEXT,
    request_id        TEXT,
    request_hash      BLOB,
    attempt           INTEGER NOT NULL DEFAULT 0,
    max_attempts      INTEGER NOT NULL,
    lease_owner       TEXT,
    lease_token       INTEGER NOT NULL DEFAULT 0,
    lease_expire_time INTEGER,
    cancel_requested  INTEGER NOT NULL DEFAULT 0,
    create_time       INTEGER NOT NULL,
    update_time       INTEGER NOT NULL,
    end_time          INTEGER
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
    name  TEXT PRIMARY KEY NOT NULL,
    value BLOB NOT NULL
);
