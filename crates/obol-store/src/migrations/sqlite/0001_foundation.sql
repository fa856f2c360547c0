-- Obol foundation schema (SQLite). Times are Unix microseconds; money is integer minor units.

CREATE TABLE sequences (
    name  TEXT PRIMARY KEY,
    value INTEGER NOT NULL
);
INSERT INTO sequences (name, value) VALUES ('payment_number', 0), ('document_id', 1000000), ('order_id', 0);

CREATE TABLE resellers (
    id         INTEGER PRIMARY KEY AUTOINCREMENT,
    parent_id  INTEGER REFERENCES resellers (id),
    name       TEXT NOT NULL,
    ancestry   TEXT NOT NULL,
    domain     TEXT,
    currency   TEXT,
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL
);
CREATE INDEX resellers_ancestry ON resellers (ancestry);

CREATE TABLE managers (
    id           INTEGER PRIMARY KEY AUTOINCREMENT,
    reseller_id  INTEGER NOT NULL REFERENCES resellers (id),
    role         TEXT NOT NULL CHECK (role IN ('admin', 'manager', 'viewer')),
    name         TEXT NOT NULL,
    token_digest BLOB NOT NULL UNIQUE,
    created_at   INTEGER NOT NULL,
    revoked_at   INTEGER
);

CREATE TABLE merchants (
    id                    INTEGER PRIMARY KEY AUTOINCREMENT,
    reseller_id           INTEGER NOT NULL REFERENCES resellers (id),
    name                  TEXT NOT NULL,
    test_mode             INTEGER NOT NULL,
    public_key            TEXT NOT NULL UNIQUE,
    api_login             TEXT NOT NULL UNIQUE,
    api_secret_digest     BLOB NOT NULL,
    callback_secret_enc   BLOB NOT NULL,
    forbid_public_access  INTEGER NOT NULL DEFAULT 0,
    webhook_url           TEXT,
    default_locale        TEXT NOT NULL DEFAULT 'en',
    created_at            INTEGER NOT NULL,
    updated_at            INTEGER NOT NULL
);

CREATE TABLE customer_accounts (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    reseller_id INTEGER NOT NULL REFERENCES resellers (id),
    name        TEXT NOT NULL,
    created_at  INTEGER NOT NULL
);

CREATE TABLE p2p_clients (
    id                      INTEGER PRIMARY KEY AUTOINCREMENT,
    client_key              TEXT NOT NULL UNIQUE,
    name                    TEXT NOT NULL,
    signing_key_enc         BLOB NOT NULL,
    require_signed_requests INTEGER NOT NULL DEFAULT 0,
    created_at              INTEGER NOT NULL
);

CREATE TABLE payment_methods (
    id       INTEGER PRIMARY KEY,
    code     TEXT NOT NULL UNIQUE,
    name_en  TEXT NOT NULL,
    name_ru  TEXT NOT NULL,
    name_uk  TEXT NOT NULL,
    category TEXT NOT NULL,
    logo_url TEXT,
    icon_url TEXT,
    online   INTEGER NOT NULL
);

CREATE TABLE payment_services (
    id                  INTEGER PRIMARY KEY AUTOINCREMENT,
    code                TEXT NOT NULL UNIQUE,
    method_id           INTEGER NOT NULL REFERENCES payment_methods (id),
    currency            TEXT NOT NULL,
    flow                TEXT NOT NULL,
    amount_min          INTEGER NOT NULL,
    amount_max          INTEGER NOT NULL,
    fee_rate_e4         INTEGER NOT NULL DEFAULT 0,
    fee_fix             INTEGER NOT NULL DEFAULT 0,
    fee_min             INTEGER NOT NULL DEFAULT 0,
    fee_max             INTEGER NOT NULL DEFAULT 0,
    reserve_lifetime_s  INTEGER NOT NULL DEFAULT 0,
    reserve_rate_e4     INTEGER NOT NULL DEFAULT 0,
    available           INTEGER NOT NULL DEFAULT 1,
    active              INTEGER NOT NULL DEFAULT 1,
    enabled             INTEGER NOT NULL DEFAULT 1,
    test_mode           INTEGER NOT NULL
);

CREATE TABLE service_fields (
    service_id INTEGER NOT NULL REFERENCES payment_services (id),
    key        TEXT NOT NULL,
    field_type TEXT NOT NULL,
    label_en   TEXT NOT NULL,
    label_ru   TEXT NOT NULL,
    label_uk   TEXT NOT NULL,
    hint_en    TEXT NOT NULL,
    hint_ru    TEXT NOT NULL,
    hint_uk    TEXT NOT NULL,
    example    TEXT,
    regexp     TEXT,
    required   INTEGER NOT NULL,
    position   INTEGER NOT NULL,
    PRIMARY KEY (service_id, key)
);

CREATE TABLE merchant_services (
    id          TEXT PRIMARY KEY,
    merchant_id INTEGER NOT NULL REFERENCES merchants (id),
    service_id  INTEGER NOT NULL REFERENCES payment_services (id),
    enabled     INTEGER NOT NULL DEFAULT 1,
    created_at  INTEGER NOT NULL,
    UNIQUE (merchant_id, service_id)
);

CREATE TABLE payments (
    id                   TEXT PRIMARY KEY,
    number               INTEGER NOT NULL UNIQUE,
    document_id          INTEGER NOT NULL UNIQUE,
    order_id             INTEGER NOT NULL UNIQUE,
    reseller_id          INTEGER NOT NULL REFERENCES resellers (id),
    merchant_id          INTEGER REFERENCES merchants (id),
    customer_account_id  INTEGER REFERENCES customer_accounts (id),
    customer_id          TEXT,
    reference_id         TEXT,
    external_id          TEXT,
    currency             TEXT NOT NULL,
    amount               INTEGER NOT NULL,
    service_id           INTEGER REFERENCES payment_services (id),
    method_id            INTEGER REFERENCES payment_methods (id),
    flow                 TEXT NOT NULL,
    status               TEXT NOT NULL,
    resolution           TEXT NOT NULL,
    description          TEXT,
    metadata             TEXT,
    return_url           TEXT,
    return_url_success   TEXT,
    return_url_fail      TEXT,
    return_url_pending   TEXT,
    callback_url         TEXT,
    expires_at           INTEGER,
    fee                  INTEGER NOT NULL,
    deposit              INTEGER NOT NULL,
    processed_amount     INTEGER NOT NULL DEFAULT 0,
    refunded_amount      INTEGER NOT NULL DEFAULT 0,
    card_first6          TEXT,
    card_last4           TEXT,
    card_brand           TEXT,
    card_expiry_month    INTEGER,
    card_expiry_year     INTEGER,
    card_holder          TEXT,
    card_issuer          TEXT,
    source               TEXT NOT NULL,
    locale               TEXT,
    test_mode            INTEGER NOT NULL,
    requester_ip         TEXT,
    completed_by         INTEGER REFERENCES managers (id),
    completed_method_id  INTEGER REFERENCES payment_methods (id),
    created_at           INTEGER NOT NULL,
    updated_at           INTEGER NOT NULL,
    processed_at         INTEGER,
    closed_at            INTEGER,
    version              INTEGER NOT NULL DEFAULT 0,
    CHECK (refunded_amount <= processed_amount),
    CHECK (processed_amount >= 0 AND refunded_amount >= 0)
);
CREATE UNIQUE INDEX payments_merchant_reference_key ON payments (merchant_id, reference_id);
CREATE INDEX payments_merchant_created ON payments (merchant_id, created_at);
CREATE INDEX payments_reseller_created ON payments (reseller_id, created_at);
CREATE INDEX payments_status ON payments (status);

CREATE TABLE payment_status_history (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    payment_id  TEXT NOT NULL REFERENCES payments (id),
    from_status TEXT,
    to_status   TEXT NOT NULL,
    resolution  TEXT NOT NULL,
    event       TEXT NOT NULL,
    actor       TEXT NOT NULL,
    at          INTEGER NOT NULL
);
CREATE INDEX payment_status_history_payment ON payment_status_history (payment_id, id);

CREATE TABLE ledger_transactions (
    id         INTEGER PRIMARY KEY AUTOINCREMENT,
    kind       TEXT NOT NULL,
    payment_id TEXT REFERENCES payments (id),
    created_at INTEGER NOT NULL
);
CREATE INDEX ledger_transactions_payment ON ledger_transactions (payment_id);

CREATE TABLE ledger_postings (
    id             INTEGER PRIMARY KEY AUTOINCREMENT,
    transaction_id INTEGER NOT NULL REFERENCES ledger_transactions (id),
    account        TEXT NOT NULL,
    currency       TEXT NOT NULL,
    amount         INTEGER NOT NULL
);
CREATE INDEX ledger_postings_transaction ON ledger_postings (transaction_id);
CREATE INDEX ledger_postings_account ON ledger_postings (account, currency);

CREATE TABLE idempotency_keys (
    scope                 TEXT NOT NULL,
    key                   TEXT NOT NULL,
    fingerprint           BLOB NOT NULL,
    response_status       INTEGER,
    response_content_type TEXT,
    response_body         BLOB,
    created_at            INTEGER NOT NULL,
    expires_at            INTEGER NOT NULL,
    PRIMARY KEY (scope, key)
);
CREATE INDEX idempotency_keys_expiry ON idempotency_keys (expires_at);

CREATE TABLE jobs (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    kind        TEXT NOT NULL,
    subject     TEXT NOT NULL,
    due_at      INTEGER NOT NULL,
    lease_owner TEXT,
    lease_until INTEGER,
    attempts    INTEGER NOT NULL DEFAULT 0,
    last_error  TEXT,
    created_at  INTEGER NOT NULL,
    done_at     INTEGER,
    UNIQUE (kind, subject)
);
CREATE INDEX jobs_due ON jobs (done_at, due_at);

CREATE TABLE settings (
    key   TEXT PRIMARY KEY,
    value TEXT NOT NULL
);
