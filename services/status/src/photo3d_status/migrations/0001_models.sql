-- The status service's schema: models, their status history, the event log that makes event handling
-- idempotent, and the outbox that carries model.status_changed to Kafka after commit.

CREATE TYPE model_status AS ENUM (
    'draft', 'uploading_photos', 'photos_uploaded', 'removing_background',
    'generating_3d_model', 'completed', 'failed'
);

CREATE TABLE models (
    id                  uuid PRIMARY KEY,
    owner               text NOT NULL,
    name                text NOT NULL,
    status              model_status NOT NULL DEFAULT 'draft',
    provider            text,
    progress            double precision NOT NULL DEFAULT 0 CHECK (progress >= 0 AND progress <= 1),
    stage_detail        text,
    -- originals as uploaded (models/{id}/originals/{view})
    original_front_key  text,
    original_left_key   text,
    original_right_key  text,
    original_back_key   text,
    -- background-removed cut-outs (models/{id}/cutouts/{view}.png)
    cutout_front_key    text,
    cutout_left_key     text,
    cutout_right_key    text,
    cutout_back_key     text,
    -- generated assets (models/{id}/assets/...); further files (mtl, texture) in extra_asset_keys
    glb_key             text,
    obj_key             text,
    stl_key             text,
    preview_key         text,
    extra_asset_keys    jsonb NOT NULL DEFAULT '{}'::jsonb,
    vertex_count        integer,
    face_count          integer,
    error_stage         text,
    error_code          text,
    error_message       text,
    error_retryable     boolean,
    created_at          timestamptz NOT NULL DEFAULT now(),
    updated_at          timestamptz NOT NULL DEFAULT now(),
    completed_at        timestamptz
);

-- "my models, newest first"
CREATE INDEX models_owner_created_idx ON models (owner, created_at DESC, id DESC);
CREATE INDEX models_status_idx ON models (status);

CREATE FUNCTION models_touch_updated_at() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    NEW.updated_at := now();
    RETURN NEW;
END;
$$;

CREATE TRIGGER models_updated_at
    BEFORE UPDATE ON models
    FOR EACH ROW EXECUTE FUNCTION models_touch_updated_at();

-- Every consumed event, once: the primary key turns a redelivery into a no-op. No foreign key to models:
-- events for deleted models are recorded too (outcome 'ignored').
CREATE TABLE event_log (
    event_id     uuid PRIMARY KEY,
    model_id     uuid NOT NULL,
    topic        text NOT NULL,
    event_type   text NOT NULL,
    occurred_at  timestamptz NOT NULL,
    outcome      text NOT NULL CHECK (outcome IN ('applied', 'ignored', 'rejected')),
    reason       text,
    from_status  model_status,
    to_status    model_status,
    at           timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX event_log_model_idx ON event_log (model_id, at);
CREATE INDEX event_log_rejected_idx ON event_log (at) WHERE outcome = 'rejected';

CREATE TABLE model_status_history (
    id            bigserial PRIMARY KEY,
    model_id      uuid NOT NULL REFERENCES models (id) ON DELETE CASCADE,
    from_status   model_status,
    to_status     model_status NOT NULL,
    cause_event_id uuid,
    cause_topic   text,
    at            timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX model_status_history_model_idx ON model_status_history (model_id, id);

-- model.status_changed messages written in the same transaction as the change, published after commit
-- (and by a periodic sweep if the process died in between), then deleted.
CREATE TABLE outbox (
    id          bigserial PRIMARY KEY,
    topic       text NOT NULL,
    key         text NOT NULL,
    payload     jsonb NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT now()
);
