-- Test and live: two worlds whose money never meets (SPEC §2 "Test and live").
--
-- A ledger account is now the pair (account, mode): every transaction and every posting
-- carries its mode, and a transaction's postings all have its mode. Until now test and live
-- money shared accounts; what was booked then is taken as live, and the test money in it
-- (the transactions of test payments and of P2P transfers, which only the sandbox settles)
-- is moved to the test accounts here, by reclassification: for each such transaction, one
-- live `reclassification` transaction reverses its postings and one test `reclassification`
-- transaction repeats them. Postings are never edited: the ledger stays append-only.
-- `reclassifies` names the transaction moved; `obol serve` and `obol migrate` log the count.

ALTER TABLE ledger_transactions ADD COLUMN mode TEXT NOT NULL DEFAULT 'live';
ALTER TABLE ledger_transactions ADD COLUMN reclassifies BIGINT REFERENCES ledger_transactions (id);
ALTER TABLE ledger_postings ADD COLUMN mode TEXT NOT NULL DEFAULT 'live';

DROP INDEX ledger_postings_account;
CREATE INDEX ledger_postings_account ON ledger_postings (account, mode, currency);
CREATE INDEX ledger_transactions_reclassifies ON ledger_transactions (reclassifies);

INSERT INTO ledger_transactions (kind, payment_id, transfer_id, created_at, mode, reclassifies)
SELECT 'reclassification', t.payment_id, t.transfer_id, CAST(EXTRACT(EPOCH FROM clock_timestamp()) * 1000000 AS BIGINT), 'live', t.id
FROM ledger_transactions t LEFT JOIN payments p ON p.id = t.payment_id
WHERE t.kind <> 'reclassification' AND (p.test_mode = TRUE OR t.transfer_id IS NOT NULL)
ORDER BY t.id;

INSERT INTO ledger_transactions (kind, payment_id, transfer_id, created_at, mode, reclassifies)
SELECT 'reclassification', t.payment_id, t.transfer_id, CAST(EXTRACT(EPOCH FROM clock_timestamp()) * 1000000 AS BIGINT), 'test', t.id
FROM ledger_transactions t LEFT JOIN payments p ON p.id = t.payment_id
WHERE t.kind <> 'reclassification' AND (p.test_mode = TRUE OR t.transfer_id IS NOT NULL)
ORDER BY t.id;

INSERT INTO ledger_postings (transaction_id, account, currency, amount, mode)
SELECT r.id, lp.account, lp.currency, CASE WHEN r.mode = 'live' THEN -lp.amount ELSE lp.amount END, r.mode
FROM ledger_transactions r JOIN ledger_postings lp ON lp.transaction_id = r.reclassifies
WHERE r.kind = 'reclassification'
ORDER BY r.id, lp.id;
