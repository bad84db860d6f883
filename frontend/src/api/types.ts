/**
 * Shapes that cross the HTTP boundary. They come from the services' OpenAPI documents: `make docs` writes
 * docs/openapi/*.json from the code and src/api/generated/ from those (drift-checked on both sides).
 * This module only names them for the page, adds the agreed fields not yet in a schema
 * (contractExtensions.ts) and narrows where the schema is looser than the contract.
 */
import type {
  FrontendConfigContractExtensions,
  ModelContractExtensions,
  ModelOptionsInput,
} from "./contractExtensions";
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

export type Model = StatusSchemas["Model"] & ModelContractExtensions;

/** Something background removal's cross-view check corrected or doubts in one photo. */
export type PhotoWarning = StatusSchemas["PhotoWarning"];

export type ModelPage = Omit<StatusSchemas["ModelPage"], "items"> & { items: Model[] };

export type CreateModelRequest = StatusSchemas["CreateModel"] & ModelOptionsInput;

export type GenerationRequest = UploadSchemas["GenerationRequest"] & ModelOptionsInput;

export type UploadResult = UploadSchemas["PhotoStoredResponse"];

/** `/config.json`, served next to the page by the status service. */
export type AppConfig = StatusSchemas["FrontendConfig"] &
  FrontendConfigContractExtensions & {
    /** Optional in a hand-served config: the upload service's UPLOAD_MAX_BYTES, so the page checks the same limit. */
    maxUploadBytes?: number;
    /** Optional in a hand-served config: content types the upload service accepts. */
    acceptedTypes?: string[];
  };
