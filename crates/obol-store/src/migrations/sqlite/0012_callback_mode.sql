-- Callbacks say whether they report test or live money (SPEC §2 "Test and live"): the mode of
-- the payment or transfer, sent as `X-Obol-Mode: test|live` on every delivery. Callbacks made
-- before take their payment's mode; a transfer's are test.

ALTER TABLE callbacks ADD COLUMN mode TEXT NOT NULL DEFAULT 'live';
UPDATE callbacks SET mode = 'test'
WHERE transfer_id IS NOT NULL OR payment_id IN (SELECT id FROM payments WHERE test_mode = TRUE);
