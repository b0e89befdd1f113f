-- Withdrawals owed to investors (BURNED) are listed for the payout file: their status as a column.
ALTER TABLE withdrawals ADD COLUMN status TEXT NOT NULL DEFAULT '';
UPDATE withdrawals SET status = json_extract(data, '$.status');
CREATE INDEX withdrawals_by_status ON withdrawals (status, created_at, id);
