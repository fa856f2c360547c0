-- A merchant's live route (SPEC §4): the `[[acquirers]]` name `obol merchant set-acquirer` chose;
-- NULL: the first route serving each payment's currency.

ALTER TABLE merchants ADD COLUMN acquirer TEXT;
