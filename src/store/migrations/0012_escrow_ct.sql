-- A task's CPC part of its escrow is stored as the domain's split computed it when the reward was
-- held (src/domain/escrow-split.ts), rather than worked out again in SQL wherever holds are summed.
ALTER TABLE tasks ADD COLUMN escrow_ct numeric(78, 0) NOT NULL DEFAULT 0 CHECK (escrow_ct >= 0);
UPDATE tasks SET escrow_ct = div(escrow_held * fee_pct_ct, 100) WHERE escrow_held > 0;
