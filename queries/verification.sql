-- Typed statements for the `verifications` table (logical model `verification`).

--: VerificationRow()

--! insert_verification (id?, identifier?, value?, expires_at?, created_at?, updated_at?)
--- Inserts a verification; absent columns are sent as NULL (no column has a default).
INSERT INTO verifications (id, identifier, value, expires_at, created_at, updated_at)
VALUES (:id, :identifier, :value, :expires_at, :created_at, :updated_at);

--! find_verification_by_identifier : VerificationRow
--- One verification for this identifier, if any.
SELECT id, identifier, value, expires_at, created_at, updated_at
FROM verifications
WHERE identifier = :identifier
LIMIT 1;

--! find_verifications_by_identifier_by_created_at_desc (limit?, offset?) : VerificationRow
--- Verifications for this identifier, newest first (core reads the latest with limit 1).
SELECT id, identifier, value, expires_at, created_at, updated_at
FROM verifications
WHERE identifier = :identifier
ORDER BY created_at DESC
LIMIT :limit OFFSET :offset;

--! update_verification_by_identifier_id_value (identifier?, value?, expires_at?, created_at?, updated_at?) : VerificationRow
--- Compare-and-swap: sets the flagged columns only if the row still holds the expected value.
UPDATE verifications SET
    identifier = CASE WHEN :set_identifier THEN :identifier ELSE identifier END,
    value = CASE WHEN :set_value THEN :value ELSE value END,
    expires_at = CASE WHEN :set_expires_at THEN :expires_at ELSE expires_at END,
    created_at = CASE WHEN :set_created_at THEN :created_at ELSE created_at END,
    updated_at = CASE WHEN :set_updated_at THEN :updated_at ELSE updated_at END
WHERE identifier = :where_identifier AND id = :where_id AND value = :where_value
RETURNING id, identifier, value, expires_at, created_at, updated_at;

--! delete_verification_by_identifier
--- Deletes at most one verification for this identifier; returns how many went (0 or 1).
DELETE FROM verifications
WHERE ctid IN (SELECT ctid FROM verifications WHERE identifier = :identifier LIMIT 1);

--! delete_verifications_by_identifier_and_id
--- Consumes a verification: exactly one concurrent caller sees 1.
DELETE FROM verifications WHERE identifier = :identifier AND id = :id;

--! delete_verifications_by_identifier
--- Deletes every verification for this identifier.
DELETE FROM verifications WHERE identifier = :identifier;

--! delete_expired_verifications
--- Deletes every verification that expired before `now`.
DELETE FROM verifications WHERE expires_at < :now;
