-- Softline's needs: what the dialect keeps per payment, bearer tokens, refund requests (SQLite).

ALTER TABLE payments ADD COLUMN dialect_attributes TEXT;

CREATE TABLE bearer_tokens (
    id                 INTEGER PRIMARY KEY AUTOINCREMENT,
    merchant_id        INTEGER NOT NULL REFERENCES merchants (id),
    token_digest       BLOB NOT NULL UNIQUE,
    refresh_digest     BLOB NOT NULL UNIQUE,
    expires_at         INTEGER NOT NULL,
    refresh_expires_at INTEGER NOT NULL,
    created_at         INTEGER NOT NULL,
    revoked_at         INTEGER
);
CREATE INDEX bearer_tokens_expiry ON bearer_tokens (refresh_expires_at);

CREATE TABLE refund_requests (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    payment_id  TEXT NOT NULL REFERENCES payments (id),
    description TEXT,
    email       TEXT,
    status      TEXT NOT NULL DEFAULT 'open' CHECK (status IN ('open', 'done', 'rejected')),
    created_at  INTEGER NOT NULL,
    closed_at   INTEGER
);
CREATE INDEX refund_requests_payment ON refund_requests (payment_id, status);
