-- Settlement speed. A commit batch of finished tasks is settled as one journal (the postings of
-- all its receipts, one entry per account and asset) instead of one journal per task; each
-- receipt names the journal that settled it, so a task's charges are still traced from the
-- receipt to its ledger entries. Receipts written before this migration have no journal_id.
--
-- The foreign key from ledger entries to accounts was a per-row trigger check, a third of the
-- time of the entry insert. Every entry's posting also moves its (account, asset) balance row in
-- the same transaction (appendJournals), and balances keep their foreign key to accounts, so an
-- entry for a missing account still cannot commit.

ALTER TABLE receipts ADD COLUMN journal_id uuid;

ALTER TABLE ledger_entries DROP CONSTRAINT ledger_entries_account_id_fkey;
