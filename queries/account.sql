-- Typed statements for the `accounts` table (logical model `account`).

--: AccountRow(access_token?, refresh_token?, id_token?, access_token_expires_at?, refresh_token_expires_at?, scope?, password?)

--! insert_account (id?, account_id?, provider_id?, user_id?, access_token?, refresh_token?, id_token?, access_token_expires_at?, refresh_token_expires_at?, scope?, password?, created_at?, updated_at?)
--- Inserts an account; absent columns are sent as NULL (no column has a default).
INSERT INTO accounts (id, account_id, provider_id, user_id, access_token, refresh_token, id_token,
    access_token_expires_at, refresh_token_expires_at, scope, password, created_at, updated_at)
VALUES (:id, :account_id, :provider_id, :user_id, :access_token, :refresh_token, :id_token,
    :access_token_expires_at, :refresh_token_expires_at, :scope, :password, :created_at, :updated_at);

--! find_account_by_id : AccountRow
--- The account with this id, if any.
SELECT id, account_id, provider_id, user_id, access_token, refresh_token, id_token,
    access_token_expires_at, refresh_token_expires_at, scope, password, created_at, updated_at
FROM accounts
WHERE id = :id;

--! find_account_by_user_id_and_provider_id : AccountRow
--- One account of a user for a provider (credential lookup at sign-in), if any.
SELECT id, account_id, provider_id, user_id, access_token, refresh_token, id_token,
    access_token_expires_at, refresh_token_expires_at, scope, password, created_at, updated_at
FROM accounts
WHERE user_id = :user_id AND provider_id = :provider_id
LIMIT 1;

--! find_account_by_account_id_and_provider_id : AccountRow
--- The account a provider knows by this id (OAuth sign-in), if any.
SELECT id, account_id, provider_id, user_id, access_token, refresh_token, id_token,
    access_token_expires_at, refresh_token_expires_at, scope, password, created_at, updated_at
FROM accounts
WHERE account_id = :account_id AND provider_id = :provider_id
LIMIT 1;

--! find_accounts_by_user_id (limit?, offset?) : AccountRow
--- A user's accounts in no particular order, paginated.
SELECT id, account_id, provider_id, user_id, access_token, refresh_token, id_token,
    access_token_expires_at, refresh_token_expires_at, scope, password, created_at, updated_at
FROM accounts
WHERE user_id = :user_id
LIMIT :limit OFFSET :offset;

--! update_account_by_id (account_id?, provider_id?, user_id?, access_token?, refresh_token?, id_token?, access_token_expires_at?, refresh_token_expires_at?, scope?, password?, created_at?, updated_at?) : AccountRow
--- Sets the flagged columns of the account with this id and returns it.
UPDATE accounts SET
    account_id = CASE WHEN :set_account_id THEN :account_id ELSE account_id END,
    provider_id = CASE WHEN :set_provider_id THEN :provider_id ELSE provider_id END,
    user_id = CASE WHEN :set_user_id THEN :user_id ELSE user_id END,
    access_token = CASE WHEN :set_access_token THEN :access_token ELSE access_token END,
    refresh_token = CASE WHEN :set_refresh_token THEN :refresh_token ELSE refresh_token END,
    id_token = CASE WHEN :set_id_token THEN :id_token ELSE id_token END,
    access_token_expires_at = CASE WHEN :set_access_token_expires_at THEN :access_token_expires_at ELSE access_token_expires_at END,
    refresh_token_expires_at = CASE WHEN :set_refresh_token_expires_at THEN :refresh_token_expires_at ELSE refresh_token_expires_at END,
    scope = CASE WHEN :set_scope THEN :scope ELSE scope END,
    password = CASE WHEN :set_password THEN :password ELSE password END,
    created_at = CASE WHEN :set_created_at THEN :created_at ELSE created_at END,
    updated_at = CASE WHEN :set_updated_at THEN :updated_at ELSE updated_at END
WHERE id = :id
RETURNING id, account_id, provider_id, user_id, access_token, refresh_token, id_token,
    access_token_expires_at, refresh_token_expires_at, scope, password, created_at, updated_at;

--! delete_account_by_id
--- Deletes the account with this id.
DELETE FROM accounts WHERE id = :id;

--! delete_accounts_by_user_id
--- Deletes every account of a user.
DELETE FROM accounts WHERE user_id = :user_id;
