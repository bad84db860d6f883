/**
 * How the server's model statuses (Postgres enum `model_status`) show up as the stages of the plan.
 */
import type { ErrorStage, Model, ModelStatus, View } from "./api/types";
import { VIEWS } from "./api/types";

export type StageId = "uploading" | "removing_background" | "generating" | "completed";

export const STAGES: readonly { id: StageId; label: string }[] = [
  { id: "uploading", label: "Upload photos" },
  { id: "removing_background", label: "Remove backgrounds" },
  { id: "generating", label: "Generate 3D model" },
  { id: "completed", label: "Model ready" },
];

/**
 * The stage each non-failed status belongs to. `photos_uploaded` already belongs to background removal:
 * the four photos are in and the removal is queued for a worker. `failed` has no stage of its own; the
 * model's `error_stage` says where it failed (see `errorStageToStageMap`).
 */
export const statusToStageMap: Record<Exclude<ModelStatus, "failed">, StageId> = {
  draft: "uploading",
  uploading_photos: "uploading",
  photos_uploaded: "removing_background",
  removing_background: "removing_background",
  generating_3d_model: "generating",
  completed: "completed",
};

export const errorStageToStageMap: Record<ErrorStage, StageId> = {
  upload: "uploading",
  background_removal: "removing_background",
  generation: "generating",
};

export const STATUS_LABELS: Record<ModelStatus, string> = {
  draft: "Draft",
  uploading_photos: "Uploading photos",
  photos_uploaded: "Photos uploaded",
  removing_background: "Removing backgrounds",
  generating_3d_model: "Generating 3D model",
  completed: "Completed",
  failed: "Failed",
};

function isErrorStage(stage: string | null): stage is ErrorStage {
  return stage !== null && Object.hasOwn(errorStageToStageMap, stage);
}

/** The stage a model is in (for a failed model: the stage that failed; an unknown one counts as upload). */
export function stageOf(model: Pick<Model, "status" | "error_stage">): StageId {
  if (model.status === "failed") {
    return isErrorStage(model.error_stage) ? errorStageToStageMap[model.error_stage] : "uploading";
  }
  return statusToStageMap[model.status];
}

export type StageState = "pending" | "queued" | "active" | "done" | "failed";

export interface StageView {
  id: StageId;
  label: string;
  state: StageState;
  /** 0..1 when known, for the progress bar. */
  progress: number | null;
  detail: string | null;
}

export function uploadedViews(model: Pick<Model, "photos">): View[] {
  return VIEWS.filter((view) => Boolean(model.photos?.[view]));
}

function clamp01(value: number | null | undefined): number | null {
  if (value === null || value === undefined || Number.isNaN(value)) return null;
  return Math.min(1, Math.max(0, value));
}

/** Every stage of the plan with its state, progress and detail for this model. */
export function describeStages(model: Model): StageView[] {
  const current = stageOf(model);
  const currentIndex = STAGES.findIndex((stage) => stage.id === current);
  const uploaded = uploadedViews(model).length;

  return STAGES.map(({ id, label }, index): StageView => {
    if (model.status === "completed") {
      return { id, label, state: "done", progress: 1, detail: null };
    }
    if (index < currentIndex) return { id, label, state: "done", progress: 1, detail: null };
    if (index > currentIndex) return { id, label, state: "pending", progress: null, detail: null };

    if (model.status === "failed") {
      return {
        id,
        label,
        state: "failed",
        progress: null,
        detail: model.error_message ?? "This stage failed.",
      };
    }
    if (id === "uploading") {
      return {
        id,
        label,
        state: uploaded > 0 ? "active" : "queued",
        progress: uploaded / VIEWS.length,
        detail: `${uploaded} of ${VIEWS.length} photos uploaded`,
      };
    }
    if (model.status === "photos_uploaded") {
      return { id, label, state: "queued", progress: null, detail: "Waiting for a worker…" };
    }
    return {
      id,
      label,
      state: "active",
      progress: clamp01(model.progress),
      detail: model.stage_detail ?? null,
    };
  });
}

export type RetryAction = "remove-background" | "generate-model";

/**
 * What re-runs a failed stage. Upload failures are fixed by replacing the photo; once all four photos are
 * in, processing is restarted from background removal.
 */
export function retryActionFor(model: Model): RetryAction | null {
  if (model.status !== "failed") return null;
  const stage = stageOf(model);
  if (stage === "generating") return "generate-model";
  if (stage === "removing_background") return "remove-background";
  if (stage === "uploading" && uploadedViews(model).length === VIEWS.length) return "remove-background";
  return null;
}

/** Photos can be (re)placed until processing starts, and again after a failure. */
export function canReplacePhotos(status: ModelStatus): boolean {
  return status === "draft" || status === "uploading_photos" || status === "photos_uploaded" || status === "failed";
}

export function isProcessing(status: ModelStatus): boolean {
  return status === "removing_background" || status === "generating_3d_model";
}
