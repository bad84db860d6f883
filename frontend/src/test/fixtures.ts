import type { Model } from "../api/types";

export const MODEL_ID = "6f1c1d1e-1111-4a4a-9b9b-123456789abc";

export function makeModel(overrides: Partial<Model> = {}): Model {
  return {
    id: MODEL_ID,
    owner: "alice",
    name: "Teapot",
    status: "draft",
    provider: null,
    progress: 0,
    stage_detail: null,
    error_stage: null,
    error_code: null,
    error_message: null,
    error_retryable: null,
    photos: { front: null, left: null, right: null, back: null },
    cutouts: { front: null, left: null, right: null, back: null },
    photo_warnings: { front: [], left: [], right: [], back: [] },
    assets: {},
    vertex_count: null,
    face_count: null,
    options: { height_m: null, width_m: null, target_faces: 20_000, texture: true },
    dimensions_m: null,
    created_at: "2026-11-24T04:00:00Z",
    updated_at: "2026-11-24T04:00:00Z",
    completed_at: null,
    ...overrides,
  };
}

export const ALL_PHOTOS = {
  front: `models/${MODEL_ID}/originals/front`,
  left: `models/${MODEL_ID}/originals/left`,
  right: `models/${MODEL_ID}/originals/right`,
  back: `models/${MODEL_ID}/originals/back`,
};

export const ALL_CUTOUTS = {
  front: `models/${MODEL_ID}/cutouts/front.png`,
  left: `models/${MODEL_ID}/cutouts/left.png`,
  right: `models/${MODEL_ID}/cutouts/right.png`,
  back: `models/${MODEL_ID}/cutouts/back.png`,
};

/** A JWT-shaped token (unsigned: the page never verifies, the services do). */
export function fakeJwt(claims: Record<string, unknown>): string {
  const encode = (value: unknown) =>
    btoa(JSON.stringify(value)).replace(/=+$/, "").replace(/\+/g, "-").replace(/\//g, "_");
  return `${encode({ alg: "HS256", typ: "JWT" })}.${encode(claims)}.c2lnbmF0dXJl`;
}
