-- A payment's ledger transactions of one kind (its refunds, its corrections, what `obol
-- verify` sums per payment) are found by payment and kind together. With the payment alone in
-- the index, SQLite chose the index on kind instead and read every refund of every payment
-- for each look-up: quadratic in refunds, and `obol verify` took minutes on a database of a
-- few hundred thousand payments.
DROP INDEX ledger_transactions_payment;
CREATE INDEX ledger_transactions_payment_kind ON ledger_transactions (payment_id, kind);
