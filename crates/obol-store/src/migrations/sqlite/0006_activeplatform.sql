-- ActivePlatform's needs: every action a manager takes, kept (SQLite).

CREATE TABLE audit_log (
    id         INTEGER PRIMARY KEY AUTOINCREMENT,
    manager_id INTEGER NOT NULL REFERENCES managers (id),
    action     TEXT NOT NULL,
    subject    TEXT NOT NULL,
    ip         TEXT,
    at         INTEGER NOT NULL
);
CREATE INDEX audit_log_subject ON audit_log (subject, id);
CREATE INDEX payments_number ON payments (reseller_id, number);
CREATE UNIQUE INDEX refund_requests_one_open ON refund_requests (payment_id) WHERE status = 'open';
