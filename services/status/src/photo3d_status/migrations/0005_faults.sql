-- Issue 9: a true status sequence, and the stuck-model watchdog.
-- A status the service inferred (a later stage's event, consumed before this stage's own, proved the
-- model passed through it) is recorded in order like any other, marked as inferred.
ALTER TABLE model_status_history ADD COLUMN inferred boolean NOT NULL DEFAULT false;
-- The watchdog looks for models in a stage's status without news for longer than the stage's deadline.
CREATE INDEX models_status_updated_idx ON models (status, updated_at);
