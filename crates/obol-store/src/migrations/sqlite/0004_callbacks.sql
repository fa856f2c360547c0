-- The callbacks outbox: one row per callback, written in the transaction of the change it
-- reports, and one row per delivery attempt (SQLite).

CREATE TABLE callbacks (
    id                 INTEGER PRIMARY KEY AUTOINCREMENT,
    delivery_id        TEXT NOT NULL UNIQUE,
    payment_id         TEXT NOT NULL REFERENCES payments (id),
    merchant_id        INTEGER REFERENCES merchants (id),
    dialect            TEXT NOT NULL,
    url                TEXT NOT NULL,
    body               BLOB NOT NULL,
    transaction_status TEXT NOT NULL,
    sequence           INTEGER NOT NULL,
    status             TEXT NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'delivered', 'failed')),
    attempts           INTEGER NOT NULL DEFAULT 0,
    next_attempt_at    INTEGER NOT NULL,
    lease_owner        TEXT,
    lease_until        INTEGER,
    created_at         INTEGER NOT NULL,
    delivered_at       INTEGER,
    last_response_code INTEGER,
    last_error         TEXT,
    UNIQUE (payment_id, sequence)
);
CREATE INDEX callbacks_due ON callbacks (status, next_attempt_at);

CREATE TABLE callback_attempts (
    id            INTEGER PRIMARY KEY AUTOINCREMENT,
    callback_id   INTEGER NOT NULL REFERENCES callbacks (id),
    started_at    INTEGER NOT NULL,
    finished_at   INTEGER NOT NULL,
    response_code INTEGER,
    delivered     INTEGER NOT NULL,
    error         TEXT
);
CREATE INDEX callback_attempts_callback ON callback_attempts (callback_id, id);

ALTER TABLE merchants ADD COLUMN previous_callback_secret_enc BLOB;
ALTER TABLE merchants ADD COLUMN previous_callback_secret_until INTEGER;
