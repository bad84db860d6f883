/**
 * Shapes that cross the HTTP boundary. They come from the services' OpenAPI documents: `make docs` writes
 * docs/openapi/*.json from the code and src/api/generated/ from those (drift-checked on both sides).
 * This module only names them for the page and narrows where the schema is looser than the contract.
 */
import type { components as StatusComponents } from "./generated/status";
import type { components as UploadComponents } from "./generated/upload";

export { VIEWS, type View } from "./views";

type StatusSchemas = StatusComponents["schemas"];
type UploadSchemas = UploadComponents["schemas"];

export type ModelStatus = StatusSchemas["ModelStatus"];

/** Every status, in the order a model goes through them (`failed` last). */
export const MODEL_STATUSES = [
  "draft",
  "uploading_photos",
  "photos_uploaded",
  "removing_background",
  "generating_3d_model",
  "completed",
  "failed",
] as const satisfies readonly ModelStatus[];

/** `Stage` in photo3d_common.events: where a failure happened (the HTTP schema says only "string"). */
export type ErrorStage = "upload" | "background_removal" | "generation";

export type Model = StatusSchemas["Model"];

/** What a model is made with (real size, face budget, texture), defaults filled in by the service. */
export type ModelOptions = StatusSchemas["GenerationOptions"];

/** The delivered mesh's bounding box in metres, y up. */
export type ModelDimensions = StatusSchemas["Dimensions"];

/** Something background removal's cross-view check corrected or doubts in one photo. */
export type PhotoWarning = StatusSchemas["PhotoWarning"];

export type ModelPage = Omit<StatusSchemas["ModelPage"], "items"> & { items: Model[] };

export type CreateModelRequest = StatusSchemas["CreateModel"];

/** The options a user may choose when creating a model (or override for one generation run). */
export type ModelOptionsInput = Pick<CreateModelRequest, "height_m" | "width_m" | "target_faces" | "texture">;

export type GenerationRequest = UploadSchemas["GenerationRequest"];

export type UploadResult = UploadSchemas["PhotoStoredResponse"];

/** `/config.json`, served next to the page by the status service. */
export type AppConfig = Omit<StatusSchemas["FrontendConfig"], "creationEnabled"> & {
  /** The operator's creation switch; absent in a hand-served config, which means on. */
  creationEnabled?: boolean;
    /** Optional in a hand-served config: the upload service's UPLOAD_MAX_BYTES, so the page checks the same limit. */
    maxUploadBytes?: number;
    /** Optional in a hand-served config: content types the upload service accepts. */
    acceptedTypes?: string[];
  };
