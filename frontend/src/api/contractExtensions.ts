/**
 * Fields agreed with the services (the cross-slice contracts: the UI switch, per-model options) that
 * are not yet in their OpenAPI documents, so not yet in src/api/generated/. Every field is optional here and the page works without it. Delete each one once the service that
 * sends it has landed and `make docs` has put it into the generated types.
 */

// --- issue 12: per-model options ----------------------------------------------------------------
/** The options a model is built with (defaults filled in by the status service). */
export interface ModelOptions {
  height_m: number | null;
  width_m: number | null;
  target_faces: number;
  texture: boolean;
}

/** The delivered mesh's bounding box in metres, y up. */
export interface ModelDimensions {
  x: number;
  y: number;
  z: number;
}

/** What the user may choose per model (`POST /api/models`) or per generation run (`POST /api/generate-model`). */
export interface ModelOptionsInput {
  height_m?: number;
  width_m?: number;
  target_faces?: number;
  texture?: boolean;
}

export interface ModelContractExtensions {
  /** issue 12 */
  options?: ModelOptions;
  /** issue 12: null until the model is completed. */
  dimensions_m?: ModelDimensions | null;
}

// --- issue 11: the UI switch (`GET /config.json`) -------------------------------------------------
export interface FrontendConfigContractExtensions {
  /** false: the page shows existing models read-only and creates nothing. Absent = on. */
  creationEnabled?: boolean;
  /** Why creation is off, shown to the user. */
  creationNotice?: string | null;
}
