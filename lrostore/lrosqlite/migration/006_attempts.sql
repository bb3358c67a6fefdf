-- The history of the operation's latest attempts: a JSON array of records,
-- the oldest first, at most 100 (lrostore.Attempt; see the column's format
-- in lrostore/internal/storekit/attempts.go). The claim appends a record and
-- the statement that ends the attempt completes it, each in the UPDATE it
-- runs anyway. NULL until the first claim.
ALTER TABLE lro_operation ADD COLUMN attempts TEXT;
