-- Typed statements for the `sessions` table (logical model `session`).

--: SessionRow(ip_address?, user_agent?)

--! insert_session (id?, expires_at?, token?, created_at?, updated_at?, ip_address?, user_agent?, user_id?)
--- Inserts a session; absent columns are sent as NULL (no column has a default).
INSERT INTO sessions (id, expires_at, token, created_at, updated_at, ip_address, user_agent, user_id)
VALUES (:id, :expires_at, :token, :created_at, :updated_at, :ip_address, :user_agent, :user_id);

--! find_session_by_token : SessionRow
--- The session with this token (get-session, sign-out), if any.
SELECT id, expires_at, token, created_at, updated_at, ip_address, user_agent, user_id
FROM sessions
WHERE token = :token;

--! find_session_by_id : SessionRow
--- The session with this id, if any.
SELECT id, expires_at, token, created_at, updated_at, ip_address, user_agent, user_id
FROM sessions
WHERE id = :id;

--! find_sessions_by_tokens : SessionRow
--- The sessions whose token is in the list (one statement whatever the list length).
SELECT id, expires_at, token, created_at, updated_at, ip_address, user_agent, user_id
FROM sessions
WHERE token = ANY(:tokens);

--! find_sessions_by_user_id (limit?, offset?) : SessionRow
--- A user's sessions in no particular order, paginated.
SELECT id, expires_at, token, created_at, updated_at, ip_address, user_agent, user_id
FROM sessions
WHERE user_id = :user_id
LIMIT :limit OFFSET :offset;

--! find_sessions_by_user_id_by_created_at_desc (limit?, offset?) : SessionRow
--- A user's sessions, newest first, paginated.
SELECT id, expires_at, token, created_at, updated_at, ip_address, user_agent, user_id
FROM sessions
WHERE user_id = :user_id
ORDER BY created_at DESC
LIMIT :limit OFFSET :offset;

--! update_session_expiry_by_token : SessionRow
--- Session refresh, exactly as core sends it: new expiry and update time, by token.
UPDATE sessions SET expires_at = :expires_at, updated_at = :updated_at
WHERE token = :token
RETURNING id, expires_at, token, created_at, updated_at, ip_address, user_agent, user_id;

--! update_session_by_token (expires_at?, token?, created_at?, updated_at?, ip_address?, user_agent?, user_id?) : SessionRow
--- Sets the flagged columns of the session with this token (session refresh) and returns it.
UPDATE sessions SET
    expires_at = CASE WHEN :set_expires_at THEN :expires_at ELSE expires_at END,
    token = CASE WHEN :set_token THEN :token ELSE token END,
    created_at = CASE WHEN :set_created_at THEN :created_at ELSE created_at END,
    updated_at = CASE WHEN :set_updated_at THEN :updated_at ELSE updated_at END,
    ip_address = CASE WHEN :set_ip_address THEN :ip_address ELSE ip_address END,
    user_agent = CASE WHEN :set_user_agent THEN :user_agent ELSE user_agent END,
    user_id = CASE WHEN :set_user_id THEN :user_id ELSE user_id END
WHERE token = :where_token
RETURNING id, expires_at, token, created_at, updated_at, ip_address, user_agent, user_id;

--! update_sessions_by_user_id (expires_at?, token?, created_at?, updated_at?, ip_address?, user_agent?, user_id?)
--- Sets the flagged columns of every session of a user.
UPDATE sessions SET
    expires_at = CASE WHEN :set_expires_at THEN :expires_at ELSE expires_at END,
    token = CASE WHEN :set_token THEN :token ELSE token END,
    created_at = CASE WHEN :set_created_at THEN :created_at ELSE created_at END,
    updated_at = CASE WHEN :set_updated_at THEN :updated_at ELSE updated_at END,
    ip_address = CASE WHEN :set_ip_address THEN :ip_address ELSE ip_address END,
    user_agent = CASE WHEN :set_user_agent THEN :user_agent ELSE user_agent END,
    user_id = CASE WHEN :set_user_id THEN :user_id ELSE user_id END
WHERE user_id = :where_user_id;

--! delete_session_by_token
--- Deletes the session with this token (sign-out); at most one row, since tokens are unique.
DELETE FROM sessions WHERE token = :token;

--! delete_sessions_by_user_id
--- Deletes every session of a user.
DELETE FROM sessions WHERE user_id = :user_id;

--! delete_expired_sessions
--- Deletes every session that expired before `now`.
DELETE FROM sessions WHERE expires_at < :now;
