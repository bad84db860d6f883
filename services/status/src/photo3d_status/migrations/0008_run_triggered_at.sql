-- When the run that set the current status was triggered (the trigger's occurred_at, which every event of a
-- worker's run carries): a worker that comes back after the watchdog failed its model, or after a re-run
-- began, finishes an older run, and its events must neither clear the failure nor end the re-run.
-- Models from before count from when their status changed.
ALTER TABLE models ADD COLUMN run_triggered_at timestamptz;
UPDATE models SET run_triggered_at = status_changed_at;
