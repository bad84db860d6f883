import type { OptionsErrors, OptionsForm } from "../../modelOptions";
import { AdvancedOptions } from "./AdvancedOptions";

export interface NewModelIntroProps {
  name: string;
  onNameChange: (name: string) => void;
  options: OptionsForm;
  optionsErrors: OptionsErrors;
  onOptionsChange: (options: OptionsForm) => void;
  /** Why the model could not be created, or null. */
  createError: string | null;
}

/** Before the first photo: how to take the photos, the model's name and its advanced options. */
export function NewModelIntro({
  name,
  onNameChange,
  options,
  optionsErrors,
  onOptionsChange,
  createError,
}: NewModelIntroProps) {
  return (
    <div className="model-page__intro">
      <p className="muted">
        Take four photos of one object — front, left, right and back — on a plain background with even light.
        Left and right are the object's own sides: facing its front, step to your right for its left side.
        Processing starts by itself once all four are uploaded.
      </p>
      <label className="field field--inline">
        <span className="field__label">Name (optional)</span>
        <input
          className="input"
          value={name}
          maxLength={200}
          onChange={(event) => onNameChange(event.target.value)}
          placeholder="e.g. Blue teapot"
        />
      </label>
      <AdvancedOptions form={options} errors={optionsErrors} onChange={onOptionsChange} />
      {createError ? (
        <p className="field__error" role="alert">
          {createError}
        </p>
      ) : null}
    </div>
  );
}
