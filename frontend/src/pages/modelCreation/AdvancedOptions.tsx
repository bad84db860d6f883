import { useId } from "react";
import {
  DEFAULT_OPTIONS_FORM,
  FACES_MAX,
  FACES_MIN,
  isCustomised,
  type OptionsErrors,
  type OptionsForm,
  type SizeAxis,
  type SizeUnit,
} from "../../modelOptions";

export interface AdvancedOptionsProps {
  form: OptionsForm;
  errors: OptionsErrors;
  onChange: (form: OptionsForm) => void;
  /** The section's summary line. */
  title?: string;
  /** What an empty field means, for the help texts. */
  emptyMeans?: string;
  /** What "Reset" goes back to. */
  defaults?: OptionsForm;
  /** Shown in the empty face-budget field. */
  facesPlaceholder?: string;
}

/** The creation form's collapsed "Advanced" section: real size, face budget, texture. */
export function AdvancedOptions({
  form,
  errors,
  onChange,
  title = "Advanced options",
  emptyMeans = "the generator's own scale",
  defaults = DEFAULT_OPTIONS_FORM,
  facesPlaceholder = "default",
}: AdvancedOptionsProps) {
  const id = useId();
  const customised = isCustomised(form, defaults);
  const set = (change: Partial<OptionsForm>) => onChange({ ...form, ...change });
  const sizeHelp = `${id}-size-help`;
  const sizeError = `${id}-size-error`;
  const facesHelp = `${id}-faces-help`;
  const facesError = `${id}-faces-error`;

  return (
    <details className="advanced">
      <summary className="advanced__summary">
        {title}
        {errors.size || errors.faces ? (
          <span className="advanced__changed"> (check the values)</span>
        ) : customised ? (
          <span className="advanced__changed"> (changed)</span>
        ) : null}
      </summary>
      <div className="advanced__body">
        <fieldset className="advanced__row">
          <legend className="field__label">Real size</legend>
          <div className="advanced__inputs">
            <select
              className="input input--compact"
              aria-label="Which side the size is"
              value={form.axis}
              onChange={(event) => set({ axis: event.target.value as SizeAxis })}
            >
              <option value="height">Height</option>
              <option value="width">Width</option>
            </select>
            <input
              className="input input--number"
              inputMode="decimal"
              aria-label="Size"
              placeholder="e.g. 30"
              value={form.size}
              onChange={(event) => set({ size: event.target.value })}
              aria-invalid={errors.size ? true : undefined}
              aria-describedby={errors.size ? `${sizeError} ${sizeHelp}` : sizeHelp}
            />
            <select
              className="input input--compact"
              aria-label="Unit"
              value={form.unit}
              onChange={(event) => set({ unit: event.target.value as SizeUnit })}
            >
              <option value="cm">cm</option>
              <option value="m">m</option>
            </select>
          </div>
          <p id={sizeHelp} className="field__help">
            The model comes out at this size (in AR and 3D tools). Empty: {emptyMeans}.
          </p>
          {errors.size ? (
            <p id={sizeError} className="field__error">
              {errors.size}
            </p>
          ) : null}
        </fieldset>

        <div className="advanced__row">
          <label className="field__label" htmlFor={`${id}-faces`}>
            Face budget
          </label>
          <input
            id={`${id}-faces`}
            className="input input--number"
            inputMode="numeric"
            placeholder={facesPlaceholder}
            value={form.faces}
            onChange={(event) => set({ faces: event.target.value })}
            aria-invalid={errors.faces ? true : undefined}
            aria-describedby={errors.faces ? `${facesError} ${facesHelp}` : facesHelp}
          />
          <p id={facesHelp} className="field__help">
            {FACES_MIN.toLocaleString()}–{FACES_MAX.toLocaleString()} triangles; fewer load faster on phones.
          </p>
          {errors.faces ? (
            <p id={facesError} className="field__error">
              {errors.faces}
            </p>
          ) : null}
        </div>

        <label className="advanced__row advanced__row--check">
          <input type="checkbox" checked={form.texture} onChange={(event) => set({ texture: event.target.checked })} />
          <span>Texture (colours from the photos)</span>
        </label>

        <button
          type="button"
          className="button button--small button--ghost"
          disabled={!customised}
          onClick={() => onChange(defaults)}
        >
          Reset to defaults
        </button>
      </div>
    </details>
  );
}
