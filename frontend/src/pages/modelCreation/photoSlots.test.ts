import { describe, expect, it } from "vitest";
import { emptySlots, photoSlotsReducer, type PhotoSlots, type SlotAction } from "./photoSlots";

const run = (...actions: SlotAction[]): PhotoSlots => actions.reduce(photoSlotsReducer, emptySlots());

describe("photoSlotsReducer", () => {
  it("follows one upload from the pick to the stored photo, leaving the other slots alone", () => {
    const picked = run({ type: "picked", view: "left", localUrl: "blob:1" });
    expect(picked.left).toEqual({ localUrl: "blob:1", progress: 0, error: null, stored: false, cutoutStale: false });
    const slots = run(
      { type: "picked", view: "left", localUrl: "blob:1" },
      { type: "progressed", view: "left", fraction: 0.4 },
      { type: "stored", view: "left" },
    );
    expect(slots.left).toEqual({ localUrl: "blob:1", progress: null, error: null, stored: true, cutoutStale: true });
    expect(slots.front).toEqual(emptySlots().front);
  });

  it("keeps the picked photo in view when its upload fails, with the reason", () => {
    const slots = run(
      { type: "picked", view: "back", localUrl: "blob:2" },
      { type: "failed", view: "back", error: "Upload cancelled." },
    );
    expect(slots.back).toMatchObject({ localUrl: "blob:2", progress: null, error: "Upload cancelled.", stored: false });
  });

  it("clears an error once a new file is picked", () => {
    const slots = run(
      { type: "refused", view: "front", error: "not a photo" },
      { type: "picked", view: "front", localUrl: "blob:3" },
    );
    expect(slots.front.error).toBeNull();
  });

  it("trusts the cut-outs again only once background removal ran after the replacement", () => {
    const replaced = run({ type: "picked", view: "right", localUrl: "blob:4" }, { type: "stored", view: "right" });
    expect(photoSlotsReducer(replaced, { type: "statusChanged", status: "failed" }).right.cutoutStale).toBe(true);
    expect(photoSlotsReducer(replaced, { type: "statusChanged", status: "photos_uploaded" }).right.cutoutStale).toBe(true);
    for (const status of ["removing_background", "generating_3d_model", "completed"] as const) {
      expect(photoSlotsReducer(replaced, { type: "statusChanged", status }).right.cutoutStale).toBe(false);
    }
  });

  it("returns the same state when a status change changes nothing, so nothing re-renders", () => {
    const slots = emptySlots();
    expect(photoSlotsReducer(slots, { type: "statusChanged", status: "completed" })).toBe(slots);
  });
});
