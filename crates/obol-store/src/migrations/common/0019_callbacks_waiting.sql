-- A pending callback behind an earlier pending one of its payment or transfer is not due by
-- time: its next_attempt_at is the largest BIGINT ("waiting", obol-store's
-- ops::callbacks::WAITING) until the earlier one is delivered or given up, which makes it due.
-- Claims then read only callbacks that can go, along callbacks_due. Callbacks written before
-- this version are put in that shape here, once.
UPDATE callbacks SET next_attempt_at = 9223372036854775807
WHERE status = 'pending'
  AND EXISTS (
    SELECT 1 FROM callbacks earlier
    WHERE (earlier.payment_id = callbacks.payment_id OR earlier.transfer_id = callbacks.transfer_id)
      AND earlier.sequence < callbacks.sequence
      AND earlier.status = 'pending'
  );
