import type { Model, View } from "../../api/types";
import { PhotoPreview } from "../../components/PhotoPreview";
import { useModelFile } from "../../hooks/useModelFile";
import type { PhotoRules } from "../../validation";
import { PhotoWarnings } from "./PhotoWarnings";
import type { SlotState } from "./photoSlots";
import { VIEW_LABELS } from "./viewLabels";

export interface PhotoSlotProps {
  model: Model | null;
  view: View;
  slot: SlotState;
  rules: PhotoRules;
  disabled: boolean;
  /** Creation is switched off: the photo is shown, nothing can be uploaded. */
  readOnly: boolean;
  onFile: (view: View, file: File) => void;
  onCancel: (view: View) => void;
}

/** One view's slot, wired to the server's stored photo and cut-out. */
export function PhotoSlot({ model, view, slot, rules, disabled, readOnly, onFile, onCancel }: PhotoSlotProps) {
  const modelId = model?.id ?? null;
  const originalKey = slot.localUrl ? null : (model?.photos?.[view] ?? null);
  const removing = model?.status === "removing_background" && (model.progress ?? 0) < 1;
  const cutoutKey = removing || slot.cutoutStale ? null : (model?.cutouts?.[view] ?? null);
  const original = useModelFile(modelId, originalKey);
  const cutout = useModelFile(modelId, cutoutKey);
  const { label, hint } = VIEW_LABELS[view];
  const fileError = slot.error ?? original.error ?? cutout.error;
  // the warnings concern the cut-out shown: none while it is being redone or after the photo was replaced
  const warnings = cutoutKey ? (model?.photo_warnings[view] ?? []) : [];

  return (
    <PhotoPreview
      label={label}
      hint={hint}
      originalUrl={slot.localUrl ?? original.url}
      cutoutUrl={cutout.url}
      uploadProgress={slot.progress}
      error={fileError}
      uploaded={slot.stored || Boolean(model?.photos?.[view])}
      removingBackground={Boolean(model?.photos?.[view]) && removing}
      disabled={disabled}
      readOnly={readOnly}
      notes={warnings.length > 0 ? <PhotoWarnings view={view} label={label} warnings={warnings} /> : null}
      accept={rules.acceptedTypes.join(",")}
      onFileSelected={(file) => onFile(view, file)}
      onCancelUpload={() => onCancel(view)}
    />
  );
}
