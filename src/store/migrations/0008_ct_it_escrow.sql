-- Mixed CT/IT escrow (spec/compute-market.md): a task holds its reward split between the consumer
-- token (`asset`, CPC) and the industrial token (`it_asset`) by `fee_pct_ct`, the CT percentage:
-- CT = floor(escrow_held × fee_pct_ct / 100), IT = the rest. Tasks before this migration were
-- all CPC, which is fee_pct_ct 100. Every account gets an IT balance row, as new ones do.

ALTER TABLE tasks ADD COLUMN fee_pct_ct smallint NOT NULL DEFAULT 100
  CHECK (fee_pct_ct BETWEEN 0 AND 100);
ALTER TABLE tasks ADD COLUMN it_asset text NOT NULL DEFAULT 'IT';

INSERT INTO balances (account_id, asset) SELECT account_id, 'IT' FROM accounts ON CONFLICT DO NOTHING;
