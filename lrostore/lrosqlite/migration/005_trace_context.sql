-- The W3C trace context of the start that stored the operation (its
-- traceparent, then a space and its tracestate when it has one), so that
-- each attempt's span continues the start's trace on whichever node claims
-- it. Written at insert only; NULL when the start was not traced.
ALTER TABLE lro_operation ADD COLUMN trace_context TEXT;
