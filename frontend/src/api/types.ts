/** Shapes that cross the HTTP boundary (docs/contracts.md, "HTTP"). */

export const VIEWS = ["front", "left", "right", "back"] as const;
export type View = (typeof VIEWS)[number];

export const MODEL_STATUSES = [
  "draft",
  "uploading_photos",
  "photos_uploaded",
  "removing_background",
  "generating_3d_model",
  "completed",
  "failed",
] as const;
export type ModelStatus = (typeof MODEL_STATUSES)[number];

/** `Stage` in photo3d_common.events: where a failure happened. */
export type ErrorStage = "upload" | "background_removal" | "generation";

export interface Model {
  id: string;
  owner: string;
  name: string | null;
  status: ModelStatus;
  provider: string | null;
  progress: number | null;
  stage_detail: string | null;
  error_stage: ErrorStage | null;
  error_code?: string | null;
  error_message: string | null;
  error_retryable: boolean | null;
  photos: Partial<Record<View, string | null>>;
  cutouts: Partial<Record<View, string | null>>;
  assets: Record<string, string>;
  vertex_count: number | null;
  face_count: number | null;
  created_at: string;
  updated_at: string;
  completed_at: string | null;
}

export interface ModelPage {
  items: Model[];
  total: number;
  limit: number;
  offset: number;
}

export interface UploadResult {
  model_id: string;
  view: View;
  key: string;
  content_type: string;
  width: number;
  height: number;
  size_bytes: number;
  views_stored: View[] | number;
  all_views_uploaded: boolean;
}

/** `/config.json`, served next to the page by the status service. */
export interface AppConfig {
  /** Base URL of the upload service, e.g. "http://127.0.0.1:8001"; "" = same origin as the page. */
  uploadBaseUrl: string;
  /** Base URL of the status service; "" = same origin as the page. */
  statusBaseUrl: string;
  /** Optional: the upload service's UPLOAD_MAX_BYTES, so the page checks the same limit. */
  maxUploadBytes?: number;
  /** Optional: content types the upload service accepts. */
  acceptedTypes?: string[];
}
