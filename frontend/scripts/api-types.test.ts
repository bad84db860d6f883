// @vitest-environment node
import { readFile } from "node:fs/promises";
import { describe, expect, it } from "vitest";
import { SERVICES, generatedFile, render } from "./api-types.mjs";

// The committed API types are the ones openapi-typescript makes from docs/openapi/ (whose own drift from
// the services' code tests/unit/devstack/test_openapi.py checks): after a schema change, run `make docs`.
describe("generated API types", () => {
  it.each(SERVICES)("src/api/generated/%s.ts matches docs/openapi", async (service) => {
    const committed = await readFile(generatedFile(service), "utf8");
    expect(committed, "stale: run make docs").toBe(await render(service));
  });
});
