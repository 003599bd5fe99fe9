-- One row per provider message: what the service sent, merged with the
-- latest status the provider reported. A status report can arrive before
-- the send is recorded, so a row may exist with only a status for a while.
CREATE TABLE deliveries (
    channel TEXT NOT NULL,
    provider_id TEXT NOT NULL,
    keep_until INTEGER NOT NULL,
    data TEXT NOT NULL,
    PRIMARY KEY (channel, provider_id)
);
CREATE INDEX deliveries_by_keep_until ON deliveries (keep_until);
