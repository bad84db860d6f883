import { describe, expectTypeOf, it } from "vitest";
import type { components as StatusComponents } from "./generated/status";
import type { components as UploadComponents } from "./generated/upload";
import { MODEL_STATUSES, type View } from "./types";

// The page's own lists must stay in step with the generated schemas; `npm run typecheck` fails when they drift.
describe("the page's lists and the services' schemas", () => {
  it("knows the same views as the upload service", () => {
    expectTypeOf<View>().toEqualTypeOf<UploadComponents["schemas"]["PhotoStoredResponse"]["view"]>();
  });

  it("knows every model status of the status service", () => {
    expectTypeOf<(typeof MODEL_STATUSES)[number]>().toEqualTypeOf<StatusComponents["schemas"]["ModelStatus"]>();
  });
});
