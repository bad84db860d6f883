-- Per-photo warnings from background removal's cross-view check of the cut-outs (issue 8):
-- {"front": [{"code": ..., "message": ...}], ...}. Replaced when background removal runs again.
ALTER TABLE models ADD COLUMN photo_warnings jsonb NOT NULL DEFAULT '{}'::jsonb;
