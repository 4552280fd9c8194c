-- Typed statements for the `users` table (logical model `user`).
-- Every column list is explicit, in schema order. Execute-only statements (no RETURNING) run
-- on the connection's prepared statement too: the runtime's client (src/typed/client.rs)
-- prepares them once, so writes return rows only when the caller needs them.

--: UserRow(image?)

--! insert_user (id?, name?, email?, email_verified?, image?, created_at?, updated_at?)
--- Inserts a user. Columns absent from the caller's data are sent as NULL, which is what
--- omitting them does on this schema (no column has a default).
INSERT INTO users (id, name, email, email_verified, image, created_at, updated_at)
VALUES (:id, :name, :email, :email_verified, :image, :created_at, :updated_at);

--! find_user_by_id : UserRow
--- The user with this id, if any.
SELECT id, name, email, email_verified, image, created_at, updated_at
FROM users
WHERE id = :id;

--! find_user_by_email : UserRow
--- The user with this email (exact, case-sensitive match, as core asks), if any.
SELECT id, name, email, email_verified, image, created_at, updated_at
FROM users
WHERE email = :email;

--! list_users (limit?, offset?) : UserRow
--- Users in no particular order, paginated; a NULL limit means no limit.
SELECT id, name, email, email_verified, image, created_at, updated_at
FROM users
LIMIT :limit OFFSET :offset;

--! list_users_by_created_at_desc (limit?, offset?) : UserRow
--- Users, newest first, paginated.
SELECT id, name, email, email_verified, image, created_at, updated_at
FROM users
ORDER BY created_at DESC
LIMIT :limit OFFSET :offset;

--! list_users_by_created_at_asc (limit?, offset?) : UserRow
--- Users, oldest first, paginated.
SELECT id, name, email, email_verified, image, created_at, updated_at
FROM users
ORDER BY created_at ASC
LIMIT :limit OFFSET :offset;

--! count_users
--- The number of users.
SELECT count(*) AS n FROM users;

--! update_user_by_id (name?, email?, email_verified?, image?, created_at?, updated_at?) : UserRow
--- Sets the columns whose `set_*` flag is true on the user with this id and returns the row.
--- One statement serves every SET list core sends.
UPDATE users SET
    name = CASE WHEN :set_name THEN :name ELSE name END,
    email = CASE WHEN :set_email THEN :email ELSE email END,
    email_verified = CASE WHEN :set_email_verified THEN :email_verified ELSE email_verified END,
    image = CASE WHEN :set_image THEN :image ELSE image END,
    created_at = CASE WHEN :set_created_at THEN :created_at ELSE created_at END,
    updated_at = CASE WHEN :set_updated_at THEN :updated_at ELSE updated_at END
WHERE id = :id
RETURNING id, name, email, email_verified, image, created_at, updated_at;

--! delete_user_by_id
--- Deletes the user with this id.
DELETE FROM users WHERE id = :id;
