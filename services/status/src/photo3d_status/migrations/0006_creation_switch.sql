-- The operator's switch for model creation (the rollback plan's "disable new UI components"): served in
-- /config.json (creationEnabled, creationNotice), which the web page reads at start and the upload service
-- reads with a short cache. Flipped without a restart by `photo3d deploy ENV --ui-off/--ui-on` or
-- `python -m photo3d_status creation off --notice "..."`. One row.
CREATE TABLE creation_switch (
    singleton   boolean PRIMARY KEY DEFAULT true CHECK (singleton),
    enabled     boolean NOT NULL DEFAULT true,
    notice      text,
    changed_at  timestamptz NOT NULL DEFAULT now(),
    changed_by  text NOT NULL DEFAULT 'migration'
);

INSERT INTO creation_switch DEFAULT VALUES;
