-- Lists of a shop's payments and refunds read by keyset, newest first (the YooKassa sandbox's
-- `GET /payments` and `GET /refunds`, SPEC §4 "Live routes"): a merchant's payments by number,
-- refunds (ledger transactions of kind `refund`) by id.

CREATE INDEX payments_merchant_number ON payments (merchant_id, number);
CREATE INDEX ledger_transactions_kind ON ledger_transactions (kind, id);
