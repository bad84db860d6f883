import type { Model } from "./api/types";

/** The best picture of a model so far: its rendered preview, else the front cut-out, else the front photo. */
export function previewKey(model: Model): string | null {
  return model.assets?.preview ?? model.cutouts?.front ?? model.photos?.front ?? null;
}
