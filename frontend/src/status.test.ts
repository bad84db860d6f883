import { describe, expect, it } from "vitest";
import { MODEL_STATUSES } from "./api/types";
import {
  canReplacePhotos,
  describeStages,
  retryActionFor,
  stageOf,
  STAGES,
  statusToStageMap,
} from "./status";
import { ALL_CUTOUTS, ALL_PHOTOS, makeModel } from "./test/fixtures";

describe("statusToStageMap", () => {
  it("maps the plan's two named statuses as the plan says", () => {
    expect(statusToStageMap.removing_background).toBe("removing_background");
    expect(statusToStageMap.generating_3d_model).toBe("generating");
  });

  it("gives every status except failed a stage of the plan", () => {
    const stageIds = STAGES.map((stage) => stage.id);
    for (const status of MODEL_STATUSES) {
      if (status === "failed") {
        expect(status in statusToStageMap).toBe(false);
      } else {
        expect(stageIds).toContain(statusToStageMap[status]);
      }
    }
    expect(statusToStageMap).toEqual({
      draft: "uploading",
      uploading_photos: "uploading",
      photos_uploaded: "removing_background",
      removing_background: "removing_background",
      generating_3d_model: "generating",
      completed: "completed",
    });
  });

  it("places a failed model at the stage that failed", () => {
    expect(stageOf(makeModel({ status: "failed", error_stage: "generation" }))).toBe("generating");
    expect(stageOf(makeModel({ status: "failed", error_stage: "background_removal" }))).toBe("removing_background");
    expect(stageOf(makeModel({ status: "failed", error_stage: "upload" }))).toBe("uploading");
    // the HTTP schema types error_stage as any string: a stage this page does not know counts as upload
    expect(stageOf(makeModel({ status: "failed", error_stage: "toString" }))).toBe("uploading");
  });
});

describe("describeStages", () => {
  const states = (model: ReturnType<typeof makeModel>) => describeStages(model).map((stage) => stage.state);

  it("counts uploaded photos while collecting them", () => {
    const model = makeModel({ status: "uploading_photos", photos: { front: ALL_PHOTOS.front, left: ALL_PHOTOS.left } });
    const [upload] = describeStages(model);
    expect(upload).toMatchObject({ id: "uploading", state: "active", progress: 0.5, detail: "2 of 4 photos uploaded" });
    expect(states(model)).toEqual(["active", "pending", "pending", "pending"]);
  });

  it("shows background removal as waiting once the four photos are in", () => {
    const model = makeModel({ status: "photos_uploaded", photos: ALL_PHOTOS });
    expect(states(model)).toEqual(["done", "queued", "pending", "pending"]);
  });

  it("carries the running stage's progress and detail", () => {
    const model = makeModel({
      status: "generating_3d_model",
      photos: ALL_PHOTOS,
      cutouts: ALL_CUTOUTS,
      progress: 0.42,
      stage_detail: "Texturing",
    });
    const stages = describeStages(model);
    expect(stages.map((stage) => stage.state)).toEqual(["done", "done", "active", "pending"]);
    expect(stages[2]).toMatchObject({ progress: 0.42, detail: "Texturing" });
  });

  it("clamps progress into 0..1", () => {
    const model = makeModel({ status: "removing_background", photos: ALL_PHOTOS, progress: 1.7 });
    expect(describeStages(model)[1]?.progress).toBe(1);
  });

  it("marks every stage done when completed", () => {
    expect(states(makeModel({ status: "completed" }))).toEqual(["done", "done", "done", "done"]);
  });

  it("shows the failure reason at the failed stage", () => {
    const model = makeModel({
      status: "failed",
      error_stage: "background_removal",
      error_message: "The left photo is blank.",
      photos: ALL_PHOTOS,
    });
    const stages = describeStages(model);
    expect(stages.map((stage) => stage.state)).toEqual(["done", "failed", "pending", "pending"]);
    expect(stages[1]?.detail).toBe("The left photo is blank.");
  });
});

describe("retryActionFor", () => {
  it("re-runs the stage that failed", () => {
    expect(retryActionFor(makeModel({ status: "failed", error_stage: "generation" }))).toBe("generate-model");
    expect(retryActionFor(makeModel({ status: "failed", error_stage: "background_removal" }))).toBe(
      "remove-background",
    );
  });

  it("restarts from background removal after an upload failure once all photos are in", () => {
    expect(retryActionFor(makeModel({ status: "failed", error_stage: "upload", photos: { front: "x" } }))).toBeNull();
    expect(retryActionFor(makeModel({ status: "failed", error_stage: "upload", photos: ALL_PHOTOS }))).toBe(
      "remove-background",
    );
  });

  it("offers nothing while the model is healthy", () => {
    for (const status of MODEL_STATUSES.filter((s) => s !== "failed")) {
      expect(retryActionFor(makeModel({ status, error_stage: "generation" }))).toBeNull();
    }
  });
});

describe("canReplacePhotos", () => {
  it("locks the photos while processing and when finished", () => {
    expect(canReplacePhotos("draft")).toBe(true);
    expect(canReplacePhotos("failed")).toBe(true);
    expect(canReplacePhotos("removing_background")).toBe(false);
    expect(canReplacePhotos("generating_3d_model")).toBe(false);
    expect(canReplacePhotos("completed")).toBe(false);
  });
});
