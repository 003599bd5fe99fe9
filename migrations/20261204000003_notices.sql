-- The outbox of "your password was changed" emails that the email provider
-- has not accepted yet. The body holds the recipient address and no secret:
-- the email's text is fixed and built at each attempt. Times are
-- milliseconds since the Unix epoch, so a 1-second retry is not rounded.
CREATE TABLE notices (
    idempotency_key TEXT PRIMARY KEY,
    created_at INTEGER NOT NULL,
    next_attempt_at INTEGER NOT NULL,
    data TEXT NOT NULL
);
CREATE INDEX notices_by_next_attempt ON notices (next_attempt_at);
CREATE INDEX notices_by_created ON notices (created_at);
