import type { View } from "../../api/types";

/** How each photo slot is named and what it asks for. */
export const VIEW_LABELS: Record<View, { label: string; hint: string }> = {
  front: { label: "Front", hint: "Face the object head-on" },
  left: { label: "Left", hint: "Its left side" },
  right: { label: "Right", hint: "Its right side" },
  back: { label: "Back", hint: "From behind" },
};
