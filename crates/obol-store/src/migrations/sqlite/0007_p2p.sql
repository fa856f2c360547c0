-- P2P transfers (SQLite): client tariffs, sessions, stored cards, transfers and their
-- operations; ledger transactions and callbacks may now belong to a transfer instead of a
-- payment.

ALTER TABLE p2p_clients ADD COLUMN commission_rate_e4 INTEGER NOT NULL DEFAULT 0;
ALTER TABLE p2p_clients ADD COLUMN commission_fixed INTEGER NOT NULL DEFAULT 0;
ALTER TABLE p2p_clients ADD COLUMN commission_min INTEGER NOT NULL DEFAULT 0;
ALTER TABLE p2p_clients ADD COLUMN commission_max INTEGER NOT NULL DEFAULT 0;

CREATE TABLE p2p_sessions (
    id         TEXT PRIMARY KEY,
    client_id  INTEGER NOT NULL REFERENCES p2p_clients (id),
    created_at INTEGER NOT NULL,
    expires_at INTEGER NOT NULL
);
CREATE INDEX p2p_sessions_expiry ON p2p_sessions (expires_at);

-- A card is the acquirer's vault token plus what may be shown: never the number or a CVV.
CREATE TABLE p2p_cards (
    seq          INTEGER PRIMARY KEY AUTOINCREMENT,
    id           TEXT NOT NULL UNIQUE,
    client_id    INTEGER NOT NULL REFERENCES p2p_clients (id),
    token        TEXT NOT NULL,
    first6       TEXT NOT NULL,
    last4        TEXT NOT NULL,
    brand        TEXT NOT NULL,
    issuer       TEXT,
    expiry_month INTEGER NOT NULL,
    expiry_year  INTEGER NOT NULL,
    holder       TEXT,
    created_at   INTEGER NOT NULL
);
CREATE INDEX p2p_cards_client ON p2p_cards (client_id, seq);

CREATE TABLE p2p_transfers (
    id                TEXT PRIMARY KEY,
    receipt_id        TEXT NOT NULL UNIQUE,
    client_id         INTEGER NOT NULL REFERENCES p2p_clients (id),
    external_id       TEXT,
    kind              TEXT NOT NULL CHECK (kind IN ('DIRECT', 'BUCKET')),
    status            TEXT NOT NULL,
    description       TEXT,
    callback_url      TEXT,
    currency          TEXT NOT NULL,
    amount            INTEGER NOT NULL CHECK (amount > 0),
    commission        INTEGER NOT NULL CHECK (commission >= 0),
    pending_amount    INTEGER NOT NULL CHECK (pending_amount >= 0),
    return_amount     INTEGER,
    return_commission INTEGER,
    card_from_id      TEXT NOT NULL REFERENCES p2p_cards (id),
    card_from_masked  TEXT NOT NULL,
    card_to_id        TEXT REFERENCES p2p_cards (id),
    card_to_masked    TEXT,
    confirmation      TEXT,
    wrong_codes       INTEGER NOT NULL DEFAULT 0,
    expires_at        INTEGER,
    created_at        INTEGER NOT NULL,
    updated_at        INTEGER NOT NULL,
    version           INTEGER NOT NULL
);
CREATE INDEX p2p_transfers_client ON p2p_transfers (client_id, created_at);

CREATE TABLE p2p_operations (
    id          TEXT PRIMARY KEY,
    transfer_id TEXT NOT NULL REFERENCES p2p_transfers (id),
    position    INTEGER NOT NULL,
    kind        TEXT NOT NULL CHECK (kind IN ('SEND', 'RECEIVE', 'RETURN')),
    status      TEXT NOT NULL CHECK (status IN ('PROCESSING', 'FINISHED', 'REJECTED')),
    amount      INTEGER NOT NULL,
    commission  INTEGER NOT NULL,
    external_id TEXT,
    card_id     TEXT,
    reason      TEXT,
    created_at  INTEGER NOT NULL,
    updated_at  INTEGER NOT NULL,
    UNIQUE (transfer_id, position)
);

ALTER TABLE ledger_transactions ADD COLUMN transfer_id TEXT REFERENCES p2p_transfers (id);
CREATE INDEX ledger_transactions_transfer ON ledger_transactions (transfer_id);

-- SQLite cannot drop a NOT NULL: the callbacks table is rebuilt. Foreign keys stay enforced
-- throughout, so the attempts (which reference callbacks) are set aside first and put back
-- into a table of the same shape once the new callbacks table has its name.
CREATE TABLE callbacks_new (
    id                 INTEGER PRIMARY KEY AUTOINCREMENT,
    delivery_id        TEXT NOT NULL UNIQUE,
    payment_id         TEXT REFERENCES payments (id),
    transfer_id        TEXT REFERENCES p2p_transfers (id),
    merchant_id        INTEGER REFERENCES merchants (id),
    p2p_client_id      INTEGER REFERENCES p2p_clients (id),
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
    CHECK ((payment_id IS NULL) <> (transfer_id IS NULL)),
    UNIQUE (payment_id, sequence),
    UNIQUE (transfer_id, sequence)
);
INSERT INTO callbacks_new (id, delivery_id, payment_id, merchant_id, dialect, url, body, transaction_status, sequence, status,
                           attempts, next_attempt_at, lease_owner, lease_until, created_at, delivered_at, last_response_code, last_error)
    SELECT id, delivery_id, payment_id, merchant_id, dialect, url, body, transaction_status, sequence, status,
           attempts, next_attempt_at, lease_owner, lease_until, created_at, delivered_at, last_response_code, last_error
    FROM callbacks;
CREATE TABLE callback_attempts_kept AS SELECT * FROM callback_attempts;
DROP TABLE callback_attempts;
DROP TABLE callbacks;
ALTER TABLE callbacks_new RENAME TO callbacks;
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
INSERT INTO callback_attempts (id, callback_id, started_at, finished_at, response_code, delivered, error)
    SELECT id, callback_id, started_at, finished_at, response_code, delivered, error FROM callback_attempts_kept ORDER BY id;
DROP TABLE callback_attempts_kept;
CREATE INDEX callback_attempts_callback ON callback_attempts (callback_id, id);
