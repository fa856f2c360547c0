-- Two-stage payments (the YooKassa sandbox's `capture: false`): an approved card only
-- authorizes the payment; a capture takes the money, a cancellation releases it.

ALTER TABLE payments ADD COLUMN manual_capture BOOLEAN NOT NULL DEFAULT FALSE;
ALTER TABLE payments ADD COLUMN authorized_at BIGINT;
