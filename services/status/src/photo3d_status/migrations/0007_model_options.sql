-- Per-model generation options (issue 12): the object's real size (height or width, metres), the face
-- budget and whether the result is textured; and the delivered mesh's bounding box. Models made before
-- had the fixed 20 000-face budget, a texture and no size: that is what they get.
ALTER TABLE models
    ADD COLUMN height_m      double precision CHECK (height_m BETWEEN 0.01 AND 100),
    ADD COLUMN width_m       double precision CHECK (width_m BETWEEN 0.01 AND 100),
    ADD COLUMN target_faces  integer NOT NULL DEFAULT 20000 CHECK (target_faces BETWEEN 1000 AND 300000),
    ADD COLUMN texture       boolean NOT NULL DEFAULT true,
    -- {"x": .., "y": .., "z": ..} in metres, y up; null until a model is delivered
    ADD COLUMN dimensions_m  jsonb,
    ADD CONSTRAINT models_one_size CHECK (height_m IS NULL OR width_m IS NULL);
