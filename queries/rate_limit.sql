-- Typed statement for the `rate_limits` table (logical model `rate_limit`).

--: RateLimitOutcome()

--! consume_rate_limit : RateLimitOutcome
--- Checks and counts one request in ONE atomic statement, with rustauth-core's semantics
--- (`consume_sql_rate_limit_record`): the window slides from the last permitted request;
--- inside it the count grows until it reaches `max`, after which requests are denied and
--- write nothing; outside it the count restarts at 1. A row with a negative count is never
--- touched, so the caller can report it. Concurrent callers serialize on the row lock taken by
--- ON CONFLICT, so exactly `max` requests of a burst are permitted, across every connection.
--- Returns the row as it stands after the decision and whether this request was permitted;
--- no row means a concurrent first insert is not yet visible to this statement's snapshot.
WITH permitted AS (
    INSERT INTO rate_limits AS r (key, count, last_request)
    VALUES (:key, 1, :now_ms)
    ON CONFLICT (key) DO UPDATE SET
        count = CASE
            WHEN CAST(:now_ms AS bigint)::numeric - r.last_request <= CAST(:window_ms AS bigint)
                THEN LEAST(r.count, 9223372036854775806) + 1
            ELSE 1
        END,
        last_request = EXCLUDED.last_request
    WHERE r.count >= 0
        AND NOT (
            CAST(:now_ms AS bigint)::numeric - r.last_request <= CAST(:window_ms AS bigint)
            AND r.count >= CAST(:max AS bigint)
        )
    RETURNING r.count, r.last_request
)
SELECT count, last_request, true AS permitted FROM permitted
UNION ALL
SELECT r.count, r.last_request, false AS permitted
FROM rate_limits AS r
WHERE r.key = :key AND NOT EXISTS (SELECT 1 FROM permitted);

--! find_rate_limit : RateLimitOutcome
--- Reads a rate-limit row (used only after a denial raced a concurrent first insert).
SELECT count, last_request, false AS permitted FROM rate_limits WHERE key = :key;
