-- Accounts, flows, sessions and rate-limit windows. Each record's body is a
-- JSON document; the columns beside it are the ones looked up or purged by.
CREATE TABLE accounts (
    id INTEGER PRIMARY KEY,
    username_key TEXT NOT NULL UNIQUE,
    ssn_digest TEXT NOT NULL UNIQUE,
    data TEXT NOT NULL
);

CREATE TABLE flows (
    id TEXT PRIMARY KEY,
    account_id INTEGER NOT NULL,
    last_active_at INTEGER NOT NULL,
    data TEXT NOT NULL
);
CREATE INDEX flows_by_account ON flows (account_id);
CREATE INDEX flows_by_activity ON flows (last_active_at);

CREATE TABLE sessions (
    token_digest TEXT PRIMARY KEY,
    account_id INTEGER NOT NULL,
    created_at INTEGER NOT NULL
);
CREATE INDEX sessions_by_account ON sessions (account_id);

CREATE TABLE rate_events (
    key TEXT PRIMARY KEY,
    latest_at INTEGER NOT NULL,
    data TEXT NOT NULL
);
CREATE INDEX rate_events_by_latest ON rate_events (latest_at);
