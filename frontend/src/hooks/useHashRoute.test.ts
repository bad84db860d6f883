import { describe, expect, it } from "vitest";
import { hrefFor, parseHash } from "./useHashRoute";

describe("hash routes", () => {
  it("reads the page's places from the address", () => {
    expect(parseHash("")).toEqual({ name: "models" });
    expect(parseHash("#/")).toEqual({ name: "models" });
    expect(parseHash("#/new")).toEqual({ name: "new" });
    expect(parseHash("#/models/6f1c1d1e-1111-4a4a-9b9b-123456789abc")).toEqual({
      name: "model",
      id: "6f1c1d1e-1111-4a4a-9b9b-123456789abc",
    });
    expect(parseHash("#/models/../../etc")).toEqual({ name: "models" });
  });

  it("writes them back", () => {
    for (const hash of ["#/", "#/new", "#/models/abc-123"]) expect(hrefFor(parseHash(hash))).toBe(hash);
  });
});
