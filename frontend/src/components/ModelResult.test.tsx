import { screen, waitFor } from "@testing-library/react";
import userEvent from "@testing-library/user-event";
import { afterEach, describe, expect, it, vi } from "vitest";
import * as arQuickLook from "../arQuickLook";
import type { Model } from "../api/types";
import { FakeBackend } from "../test/fakeBackend";
import { ALL_CUTOUTS, ALL_PHOTOS, MODEL_ID, makeModel } from "../test/fixtures";
import { renderWithApi } from "../test/render";
import { ModelResult } from "./ModelResult";

vi.mock("@google/model-viewer", () => ({}));

const asset = (name: string) => `models/${MODEL_ID}/assets/${name}`;

function completed(overrides: Partial<Model> = {}): Model {
  return makeModel({
    status: "completed",
    photos: ALL_PHOTOS,
    cutouts: ALL_CUTOUTS,
    assets: { glb: asset("model.glb"), usdz: asset("model.usdz"), preview: asset("preview.png") },
    vertex_count: 2502,
    face_count: 5000,
    ...overrides,
  });
}

const files = () => new FakeBackend().on("GET", /\/files\//, () => new Response("bytes"));

afterEach(() => vi.restoreAllMocks());

describe("ModelResult", () => {
  it("shows the real size and the face count against the budget", () => {
    const model = completed({
      dimensions_m: { x: 0.12, y: 0.3, z: 0.115 },
      options: { height_m: 0.3, width_m: null, target_faces: 5000, texture: true },
      stage_detail: "The provider makes at least 10,000 faces.",
    });
    renderWithApi(<ModelResult model={model} />, files().client());
    const facts = screen.getByRole("list", { name: "About this model" });
    expect(facts).toHaveTextContent("Size 12 × 30 × 11.5 cm (width × height × depth)");
    expect(facts).toHaveTextContent("2,502 vertices · 5,000 faces (budget 5,000)");
    expect(facts).toHaveTextContent("The provider makes at least 10,000 faces.");
  });

  it("offers the USDZ as a download and fetches it only when asked", async () => {
    const user = userEvent.setup();
    vi.spyOn(arQuickLook, "supportsQuickLook").mockReturnValue(false);
    const backend = files();
    renderWithApi(<ModelResult model={completed()} />, backend.client());
    await waitFor(() => expect(backend.requestsTo("GET", /model\.glb$/)).toHaveLength(1));
    expect(backend.requestsTo("GET", /model\.usdz$/)).toHaveLength(0);
    expect(screen.queryByRole("link", { name: /AR Quick Look/ })).toBeNull();

    const click = vi.spyOn(HTMLAnchorElement.prototype, "click").mockImplementation(() => undefined);
    await user.click(screen.getByRole("button", { name: "Download USDZ (Apple AR)" }));
    await waitFor(() => expect(backend.requestsTo("GET", /model\.usdz$/)).toHaveLength(1));
    await waitFor(() => expect(click).toHaveBeenCalled());
    expect((click.mock.contexts[0] as HTMLAnchorElement).download).toBe("Teapot.usdz");
  });

  it("opens the USDZ in AR Quick Look where Safari supports it", async () => {
    vi.spyOn(arQuickLook, "supportsQuickLook").mockReturnValue(true);
    const backend = files();
    renderWithApi(<ModelResult model={completed()} />, backend.client());
    const link = await screen.findByRole("link", { name: "View in your space (AR Quick Look)" });
    expect(link).toHaveAttribute("rel", "ar");
    expect(link.getAttribute("href")).toMatch(/^blob:/);
    expect(link.children).toHaveLength(1);
    expect(link.firstElementChild?.tagName).toBe("IMG");
    expect(backend.requestsTo("GET", /model\.usdz$/)).toHaveLength(1);
    // and the viewer's own AR button hands the same file to Quick Look
    await waitFor(() => expect(document.querySelector("model-viewer")).toHaveAttribute("ios-src", link.getAttribute("href")));
    expect(document.querySelector("model-viewer")).toHaveAttribute("ar-modes", "webxr quick-look");
  });

  it("does not call an untextured model's GLB textured", () => {
    const model = completed({ options: { height_m: null, width_m: null, target_faces: 20000, texture: false } });
    renderWithApi(<ModelResult model={model} />, files().client());
    expect(screen.getByRole("button", { name: "Download GLB" })).toBeInTheDocument();
    expect(screen.queryByRole("button", { name: /textured/ })).toBeNull();
  });

  it("without a USDZ, offers neither its download nor AR Quick Look", () => {
    vi.spyOn(arQuickLook, "supportsQuickLook").mockReturnValue(true);
    const backend = files();
    renderWithApi(<ModelResult model={completed({ assets: { glb: asset("model.glb") } })} />, backend.client());
    expect(screen.queryByRole("button", { name: /USDZ/ })).toBeNull();
    expect(screen.queryByRole("link", { name: /AR Quick Look/ })).toBeNull();
    expect(backend.requestsTo("GET", /model\.usdz$/)).toHaveLength(0);
  });
});
