/**
 * The per-model options of the creation form's "Advanced" section (real size, face budget, texture):
 * what the user typed, checked against the services' bounds, and turned into request fields. Empty
 * fields are left out, so the service's defaults apply; the defaults are one "Reset" away.
 */
import type { ModelDimensions, ModelOptions, ModelOptionsInput } from "./api/types";

export const SIZE_MIN_M = 0.01;
export const SIZE_MAX_M = 100;
export const FACES_MIN = 1_000;
export const FACES_MAX = 300_000;

export type SizeUnit = "cm" | "m";
export type SizeAxis = "height" | "width";

export interface OptionsForm {
  size: string;
  unit: SizeUnit;
  axis: SizeAxis;
  faces: string;
  texture: boolean;
}

export const DEFAULT_OPTIONS_FORM: OptionsForm = { size: "", unit: "cm", axis: "height", faces: "", texture: true };

export interface OptionsErrors {
  size?: string;
  faces?: string;
}

export interface CheckedOptions {
  /** Only the fields the user set. */
  input: ModelOptionsInput;
  errors: OptionsErrors;
}

/** The form's values differ from the defaults (unit and axis alone change nothing). */
export function isCustomised(form: OptionsForm, defaults: OptionsForm = DEFAULT_OPTIONS_FORM): boolean {
  return form.size.trim() !== "" || form.faces.trim() !== "" || form.texture !== defaults.texture;
}

/** A number as typed by people: spaces and a decimal comma are fine ("1 000", "0,3"). */
function parseNumber(text: string): number | null {
  const cleaned = text.replace(/[\s\u00a0\u202f]/g, "").replace(",", ".");
  if (!/^\d+(\.\d+)?$|^\.\d+$/.test(cleaned)) return null;
  return Number(cleaned);
}

/** What to send for the form; texture only when it differs from the defaults' (a re-run keeps the model's). */
export function checkOptions(form: OptionsForm, defaults: OptionsForm = DEFAULT_OPTIONS_FORM): CheckedOptions {
  const input: ModelOptionsInput = {};
  const errors: OptionsErrors = {};

  if (form.size.trim()) {
    const value = parseNumber(form.size);
    const metres = value === null ? null : form.unit === "cm" ? value / 100 : value;
    if (metres === null || metres < SIZE_MIN_M || metres > SIZE_MAX_M) {
      errors.size = "Enter a size between 1 cm and 100 m, or leave it empty.";
    } else {
      // centimetres to metres without binary fractions creeping in (0.3, not 0.30000000000000004)
      const rounded = Number(metres.toPrecision(6));
      if (form.axis === "height") input.height_m = rounded;
      else input.width_m = rounded;
    }
  }

  if (form.faces.trim()) {
    const value = parseNumber(form.faces);
    if (value === null || !Number.isInteger(value) || value < FACES_MIN || value > FACES_MAX) {
      errors.faces = `Enter a whole number from ${FACES_MIN.toLocaleString()} to ${FACES_MAX.toLocaleString()}, or leave it empty.`;
    } else {
      input.target_faces = value;
    }
  }

  if (form.texture !== defaults.texture) input.texture = form.texture;
  return { input, errors };
}

/** A length for people: centimetres below a metre, metres above. */
export function formatLength(metres: number): string {
  if (metres < 1) return `${(metres * 100).toLocaleString(undefined, { maximumFractionDigits: 1 })} cm`;
  return `${metres.toLocaleString(undefined, { maximumFractionDigits: 2 })} m`;
}

/** "12 × 30 × 11.5 cm" (width × height × depth; y is up). */
export function formatDimensions(dimensions: ModelDimensions): string {
  const unitInCm = Math.max(dimensions.x, dimensions.y, dimensions.z) < 1;
  const scale = unitInCm ? 100 : 1;
  const digits = unitInCm ? 1 : 2;
  const part = (value: number) => (value * scale).toLocaleString(undefined, { maximumFractionDigits: digits });
  return `${part(dimensions.x)} × ${part(dimensions.y)} × ${part(dimensions.z)} ${unitInCm ? "cm" : "m"}`;
}

/** One line on what a model was made with, e.g. "30 cm tall · 5,000-face budget · no texture". */
export function describeOptions(options: ModelOptions): string {
  const parts: string[] = [];
  if (options.height_m != null) parts.push(`${formatLength(options.height_m)} tall`);
  else if (options.width_m != null) parts.push(`${formatLength(options.width_m)} wide`);
  parts.push(`${options.target_faces.toLocaleString()}-face budget`);
  parts.push(options.texture ? "textured" : "no texture");
  return parts.join(" · ");
}
