-- Paymega's needs: customers of merchants, the invoice's extra fields, and card attempts
-- waiting for 3-D Secure (SQLite).

CREATE TABLE customers (
    id           TEXT PRIMARY KEY,
    merchant_id  INTEGER NOT NULL REFERENCES merchants (id),
    reference_id TEXT NOT NULL,
    name         TEXT,
    email        TEXT,
    phone        TEXT,
    metadata     TEXT,
    country      TEXT,
    region       TEXT,
    city         TEXT,
    full_address TEXT,
    postcode     TEXT,
    created_at   INTEGER NOT NULL,
    updated_at   INTEGER NOT NULL,
    UNIQUE (merchant_id, reference_id)
);

ALTER TABLE payments ADD COLUMN service_fields TEXT;
ALTER TABLE payments ADD COLUMN gateway_options TEXT;
ALTER TABLE payments ADD COLUMN page_options TEXT;

CREATE TABLE payment_attempts (
    id                INTEGER PRIMARY KEY AUTOINCREMENT,
    payment_id        TEXT NOT NULL REFERENCES payments (id),
    status            TEXT NOT NULL CHECK (status IN ('challenge', 'approved', 'declined')),
    card_first6       TEXT NOT NULL,
    card_last4        TEXT NOT NULL,
    card_brand        TEXT NOT NULL,
    card_expiry_month INTEGER NOT NULL,
    card_expiry_year  INTEGER NOT NULL,
    card_holder       TEXT,
    card_issuer       TEXT,
    created_at        INTEGER NOT NULL,
    updated_at        INTEGER NOT NULL
);
CREATE INDEX payment_attempts_payment ON payment_attempts (payment_id, id);
