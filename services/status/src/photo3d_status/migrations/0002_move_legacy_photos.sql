-- Phase 1 of the move off the legacy schema: photos kept one row per uploaded view, and the model was
-- only implied by grouping them. The legacy shape this migrates from:
--
--   CREATE TABLE photos (
--       id          serial PRIMARY KEY,
--       model_id    uuid NOT NULL,            -- groups the four views of one object
--       user_id     text NOT NULL,            -- the owner (the JWT subject)
--       angle       text NOT NULL,            -- 'front' | 'left' | 'right' | 'back' (any case/spaces)
--       s3_key      text NOT NULL,            -- object key in the bucket
--       created_at  timestamptz NOT NULL DEFAULT now()
--   );
--
-- Each model_id becomes one row of models: the latest photo per view wins, the owner is the user of the
-- earliest photo, the status is photos_uploaded when all four views are there and uploading_photos
-- otherwise. Then photos is dropped. A database without the legacy table is left untouched. Rows that
-- cannot be placed (an unknown angle, photos of one model from several users) stop the migration with an
-- error instead of being dropped silently.

DO $$
DECLARE
    bad text;
BEGIN
    IF to_regclass('photos') IS NULL THEN
        RETURN;
    END IF;

    SELECT string_agg(DISTINCT angle, ', ') INTO bad
    FROM photos WHERE lower(btrim(angle)) NOT IN ('front', 'left', 'right', 'back');
    IF bad IS NOT NULL THEN
        RAISE EXCEPTION 'legacy photos have unknown angles (%): fix them, then migrate again', bad;
    END IF;

    SELECT string_agg(model_id::text, ', ') INTO bad FROM (
        SELECT model_id FROM photos GROUP BY model_id HAVING count(DISTINCT user_id) > 1
    ) shared;
    IF bad IS NOT NULL THEN
        RAISE EXCEPTION 'legacy models with photos from several users (%): resolve them, then migrate again', bad;
    END IF;

    WITH latest AS (
        SELECT DISTINCT ON (model_id, lower(btrim(angle)))
               model_id, user_id, lower(btrim(angle)) AS view, s3_key, created_at
        FROM photos
        ORDER BY model_id, lower(btrim(angle)), created_at DESC, id DESC
    ), grouped AS (
        SELECT model_id,
               min(user_id) AS owner,
               max(s3_key) FILTER (WHERE view = 'front') AS front_key,
               max(s3_key) FILTER (WHERE view = 'left')  AS left_key,
               max(s3_key) FILTER (WHERE view = 'right') AS right_key,
               max(s3_key) FILTER (WHERE view = 'back')  AS back_key,
               count(*) AS views,
               (SELECT min(p.created_at) FROM photos p WHERE p.model_id = latest.model_id) AS first_at,
               max(created_at) AS last_at
        FROM latest
        GROUP BY model_id
    )
    INSERT INTO models (id, owner, name, status, progress, stage_detail,
                        original_front_key, original_left_key, original_right_key, original_back_key,
                        created_at, updated_at)
    SELECT model_id, owner, 'Imported model',
           CASE WHEN views = 4 THEN 'photos_uploaded' ELSE 'uploading_photos' END::model_status,
           views / 4.0, views || ' of 4 photos uploaded',
           front_key, left_key, right_key, back_key,
           first_at, last_at
    FROM grouped
    ON CONFLICT (id) DO NOTHING;

    DROP TABLE photos;
END;
$$;
