/**
 * What the page knows about each photo slot beyond the server's model: the file the user just picked,
 * its upload progress and error, and whether its cut-out still matches it. One reducer, so every change
 * to a slot is one named action.
 */
import { VIEWS, type ModelStatus, type View } from "../../api/types";

export interface SlotState {
  /** Object URL of the file the user picked, shown at once. */
  localUrl: string | null;
  /** 0..1 while the photo is being sent, null otherwise. */
  progress: number | null;
  error: string | null;
  /** The server stored this view during this visit. */
  stored: boolean;
  /** The photo was replaced after the last background removal: its old cut-out no longer applies. */
  cutoutStale: boolean;
}

export type PhotoSlots = Record<View, SlotState>;

export type SlotAction =
  /** The page's own checks refused the file (type, size): nothing is sent. */
  | { type: "refused"; view: View; error: string }
  /** A file was picked and its upload starts. */
  | { type: "picked"; view: View; localUrl: string }
  | { type: "progressed"; view: View; fraction: number }
  /** The upload service stored the photo. */
  | { type: "stored"; view: View }
  /** The upload did not happen (the server's reason, a cancel, or the model could not be created). */
  | { type: "failed"; view: View; error: string }
  /** The model's status changed. */
  | { type: "statusChanged"; status: ModelStatus };

const EMPTY_SLOT: SlotState = { localUrl: null, progress: null, error: null, stored: false, cutoutStale: false };

export function emptySlots(): PhotoSlots {
  return { front: { ...EMPTY_SLOT }, left: { ...EMPTY_SLOT }, right: { ...EMPTY_SLOT }, back: { ...EMPTY_SLOT } };
}

/** Statuses that prove background removal ran again (polling may skip `removing_background` itself). */
function cutoutsWereRedone(status: ModelStatus): boolean {
  return status === "removing_background" || status === "generating_3d_model" || status === "completed";
}

function update(slots: PhotoSlots, view: View, change: Partial<SlotState>): PhotoSlots {
  return { ...slots, [view]: { ...slots[view], ...change } };
}

export function photoSlotsReducer(slots: PhotoSlots, action: SlotAction): PhotoSlots {
  switch (action.type) {
    case "refused":
      return update(slots, action.view, { error: action.error });
    case "picked":
      return update(slots, action.view, { localUrl: action.localUrl, error: null, progress: 0, stored: false });
    case "progressed":
      return update(slots, action.view, { progress: action.fraction });
    case "stored":
      return update(slots, action.view, { progress: null, stored: true, cutoutStale: true, error: null });
    case "failed":
      return update(slots, action.view, { progress: null, error: action.error });
    case "statusChanged": {
      if (!cutoutsWereRedone(action.status) || !VIEWS.some((view) => slots[view].cutoutStale)) return slots;
      const next = { ...slots };
      for (const view of VIEWS) next[view] = { ...next[view], cutoutStale: false };
      return next;
    }
  }
}
