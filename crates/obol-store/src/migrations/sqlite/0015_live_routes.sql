-- Live routes (SPEC §4): a payment sent to an upstream provider, the provider's id of it, when
-- the reconciliation worker asks the provider about it next, and refunds made at the provider.

ALTER TABLE payments ADD COLUMN route TEXT;
ALTER TABLE payments ADD COLUMN upstream_id TEXT;
CREATE UNIQUE INDEX payments_route_upstream ON payments (route, upstream_id);

-- One row per payment still pending at its provider: the next look is due at `due_at`.
CREATE TABLE upstream_checks (
    payment_id TEXT PRIMARY KEY REFERENCES payments (id),
    due_at     INTEGER NOT NULL,
    checks     INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX upstream_checks_due ON upstream_checks (due_at);

-- A refund sent (or being sent) to a payment's provider. `idempotence_key` is sent with every
-- try, so retries make one refund there; `booked` is set in the transaction that books it.
CREATE TABLE upstream_refunds (
    idempotence_key TEXT PRIMARY KEY,
    payment_id      TEXT NOT NULL REFERENCES payments (id),
    route           TEXT NOT NULL,
    amount          INTEGER NOT NULL,
    status          TEXT NOT NULL,
    upstream_id     TEXT,
    requested_by    TEXT NOT NULL,
    booked          BOOLEAN NOT NULL DEFAULT FALSE,
    tries           INTEGER NOT NULL DEFAULT 0,
    next_try_at     INTEGER,
    created_at      INTEGER NOT NULL,
    updated_at      INTEGER NOT NULL
);
CREATE UNIQUE INDEX upstream_refunds_upstream ON upstream_refunds (route, upstream_id);
CREATE INDEX upstream_refunds_payment ON upstream_refunds (payment_id);
CREATE INDEX upstream_refunds_next_try ON upstream_refunds (next_try_at);

-- A live route's card service per currency (`payment_card_{currency}_hpp`, stored with its code
-- as `{code}@{route}`), made from the configuration at start; `route_position` is the route's
-- place there (the first route serving a currency takes a merchant's payments in it).
ALTER TABLE payment_services ADD COLUMN route TEXT;
ALTER TABLE payment_services ADD COLUMN route_position INTEGER;
