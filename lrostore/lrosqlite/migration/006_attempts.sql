-- The history of the operation's latest attempts (lrostore.Attempt).
--
-- The current claim is kept in plain columns, which the claim sets in the
-- UPDATE it runs anyway: claim_time, claim_owner (the worker; lease_owner
-- is cleared at the end) and due_time (when the operation was due, before
-- the claim cleared not_before). Its record is read from them and from the
-- row's attempt, state, end_time and error: a claim that a finish ends
-- writes no record at all.
--
-- attempts is a JSON array of the records of the claims that ended
-- otherwise (a retry, a release, a rescue, an expiry), the oldest first,
-- at most 100 (see the format in lrostore/internal/storekit/attempts.go).
-- The statement that ends such a claim appends its record and clears the
-- claim's columns. NULL until the first such end.
ALTER TABLE lro_operation ADD COLUMN attempts TEXT;
ALTER TABLE lro_operation ADD COLUMN claim_time INTEGER;
ALTER TABLE lro_operation ADD COLUMN claim_owner TEXT;
ALTER TABLE lro_operation ADD COLUMN due_time INTEGER;
