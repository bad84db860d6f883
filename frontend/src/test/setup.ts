import "@testing-library/jest-dom/vitest";
import { cleanup } from "@testing-library/react";
import { afterEach, vi } from "vitest";

// jsdom has no object URLs; the page uses them for picked files and fetched blobs.
let objectUrls = 0;
if (!("createObjectURL" in URL)) {
  Object.assign(URL, { createObjectURL: () => "", revokeObjectURL: () => undefined });
}
URL.createObjectURL = vi.fn(() => `blob:test/${++objectUrls}`);
URL.revokeObjectURL = vi.fn();

afterEach(() => {
  vi.unstubAllGlobals();
  if (typeof window === "undefined") return; // a test file that runs in Node (`@vitest-environment node`)
  cleanup();
  window.location.hash = "";
  sessionStorage.clear();
});
