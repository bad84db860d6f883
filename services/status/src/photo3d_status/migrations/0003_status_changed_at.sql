-- When the current status was entered, by the clock of the event that caused it (its occurred_at).
-- Lets the domain tell a stale event from a new one around failures and re-runs: a start older than the
-- failure it would clear, or a failure older than the run it would end, belongs to an earlier run.
ALTER TABLE models ADD COLUMN status_changed_at timestamptz;
UPDATE models SET status_changed_at = updated_at;
ALTER TABLE models ALTER COLUMN status_changed_at SET DEFAULT now();
ALTER TABLE models ALTER COLUMN status_changed_at SET NOT NULL;
