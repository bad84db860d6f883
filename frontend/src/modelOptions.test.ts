import { describe, expect, it } from "vitest";
import { checkOptions, DEFAULT_OPTIONS_FORM, describeOptions, formatDimensions, isCustomised } from "./modelOptions";

const form = (change: Partial<typeof DEFAULT_OPTIONS_FORM>) => ({ ...DEFAULT_OPTIONS_FORM, ...change });

describe("the advanced options", () => {
  it("sends nothing by default, so the service's defaults apply", () => {
    expect(checkOptions(DEFAULT_OPTIONS_FORM)).toEqual({ input: {}, errors: {} });
    expect(isCustomised(DEFAULT_OPTIONS_FORM)).toBe(false);
  });

  it("turns a size in centimetres or metres into metres, on the axis chosen", () => {
    expect(checkOptions(form({ size: "30" })).input).toEqual({ height_m: 0.3 });
    expect(checkOptions(form({ size: "0,45", unit: "m", axis: "width" })).input).toEqual({ width_m: 0.45 });
    expect(checkOptions(form({ size: "1", unit: "cm" })).input).toEqual({ height_m: 0.01 });
    expect(checkOptions(form({ size: "100", unit: "m" })).input).toEqual({ height_m: 100 });
  });

  it("refuses sizes outside 1 cm to 100 m and what is not a number", () => {
    for (const size of ["0.5", "10001", "abc", "-3", "3 0x"]) {
      expect(checkOptions(form({ size })).errors.size, size).toMatch(/between 1 cm and 100 m/);
    }
    expect(checkOptions(form({ size: "101", unit: "m" })).input).toEqual({});
  });

  it("takes a face budget from 1 000 to 300 000, written with or without separators", () => {
    expect(checkOptions(form({ faces: "5 000" })).input).toEqual({ target_faces: 5000 });
    expect(checkOptions(form({ faces: "300000" })).input).toEqual({ target_faces: 300_000 });
    for (const faces of ["999", "300001", "5000.5", "many"]) {
      expect(checkOptions(form({ faces })).errors.faces, faces).toMatch(/whole number from 1,000 to 300,000/);
    }
  });

  it("sends texture only when it is switched off", () => {
    expect(checkOptions(form({ texture: false })).input).toEqual({ texture: false });
    expect(isCustomised(form({ texture: false }))).toBe(true);
  });

  it("says sizes the way people read them", () => {
    expect(formatDimensions({ x: 0.12, y: 0.3, z: 0.115 })).toBe("12 × 30 × 11.5 cm");
    expect(formatDimensions({ x: 1.2, y: 2, z: 0.5 })).toBe("1.2 × 2 × 0.5 m");
    expect(describeOptions({ height_m: 0.3, width_m: null, target_faces: 5000, texture: false })).toBe(
      "30 cm tall · 5,000-face budget · no texture",
    );
    expect(describeOptions({ height_m: null, width_m: null, target_faces: 20000, texture: true })).toBe(
      "20,000-face budget · textured",
    );
  });
});
