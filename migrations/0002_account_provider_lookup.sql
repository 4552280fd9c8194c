-- An index rustauth-core's planner does not create: OAuth sign-in looks an account up by
-- (provider_id, account_id), which without it scans every account. Extra indexes leave the
-- planner's view of the schema unchanged (the parity test still plans nothing).
CREATE INDEX IF NOT EXISTS "idx_accounts_provider_id_account_id"
    ON "accounts" ("provider_id", "account_id");
