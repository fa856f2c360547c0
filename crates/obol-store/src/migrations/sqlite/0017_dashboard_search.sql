-- The dashboard's payments list and search (SPEC §7): a manager's subtree read newest first by
-- keyset on (created_at, id), with or without a merchant; and a search by any id, card last 4
-- or customer email found by index rather than by a scan. The ids that only some payments
-- have (Softline's payment_id, a live route's id, a card's last 4) are indexed where present,
-- so a payment without them costs these indexes nothing. A status filter reads its own index
-- in list order ((status, created_at, id), which also serves every lookup by status alone, so
-- it replaces migration 1's payments_status).

CREATE INDEX payments_created_id ON payments (created_at, id);
CREATE INDEX payments_merchant_created_id ON payments (merchant_id, created_at, id);
DROP INDEX payments_status;
CREATE INDEX payments_status_created_id ON payments (status, created_at, id);
CREATE INDEX payments_reference ON payments (reference_id) WHERE reference_id IS NOT NULL;
CREATE INDEX payments_external ON payments (external_id) WHERE external_id IS NOT NULL;
CREATE INDEX payments_upstream ON payments (upstream_id) WHERE upstream_id IS NOT NULL;
CREATE INDEX payments_card_last4 ON payments (card_last4) WHERE card_last4 IS NOT NULL;
CREATE INDEX customers_email ON customers (LOWER(email)) WHERE email IS NOT NULL;
