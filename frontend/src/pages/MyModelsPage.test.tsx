import { screen, within } from "@testing-library/react";
import userEvent from "@testing-library/user-event";
import { describe, expect, it } from "vitest";
import { FakeBackend, jsonResponse } from "../test/fakeBackend";
import { ALL_CUTOUTS, ALL_PHOTOS, makeModel } from "../test/fixtures";
import { renderWithApi } from "../test/render";
import { previewKey } from "../modelPreview";
import { MyModelsPage } from "./MyModelsPage";

const newer = makeModel({
  id: "00000000-0000-4000-8000-000000000002",
  name: "Chair",
  status: "failed",
  error_message: "The back photo is blurred.",
  created_at: "2026-11-24T05:00:00Z",
});
const older = makeModel({ id: "00000000-0000-4000-8000-000000000001", name: "Vase", status: "completed", assets: { preview: "p.png" } });

describe("MyModelsPage", () => {
  it("lists the models newest first with status and preview, and deletes one after confirmation", async () => {
    const user = userEvent.setup();
    const backend = new FakeBackend()
      .on("GET", /\/api\/models\?/, () => jsonResponse({ items: [newer, older], total: 2, limit: 20, offset: 0 }))
      .on("GET", /\/files\//, () => new Response("png"))
      .on("DELETE", /\/api\/models\//, () => new Response(null, { status: 204 }));
    renderWithApi(<MyModelsPage />, backend.client());

    const list = await screen.findByRole("list", { name: "Your models, newest first" });
    const cards = within(list).getAllByRole("listitem");
    expect(cards.map((card) => within(card).getByRole("heading").textContent)).toEqual(["Chair", "Vase"]);
    expect(within(cards[0]!).getByText("Failed")).toBeInTheDocument();
    expect(within(cards[0]!).getByText("The back photo is blurred.")).toBeInTheDocument();
    expect(within(cards[1]!).getByRole("link", { name: "Open Vase" })).toHaveAttribute("href", `#/models/${older.id}`);

    await user.click(within(cards[0]!).getByRole("button", { name: "Delete Chair" }));
    await user.click(within(cards[0]!).getByRole("button", { name: "Yes, delete" }));
    await screen.findByRole("link", { name: "Vase" });
    expect(screen.queryByRole("link", { name: "Chair" })).not.toBeInTheDocument();
    expect(backend.requestsTo("DELETE", /\/api\/models\//)[0]?.url).toBe(`/api/models/${newer.id}`);
  });

  it("invites to create the first model", async () => {
    const backend = new FakeBackend().on("GET", /\/api\/models\?/, () => jsonResponse({ items: [], total: 0, limit: 20, offset: 0 }));
    renderWithApi(<MyModelsPage />, backend.client());
    expect(await screen.findByRole("link", { name: "Create your first model" })).toHaveAttribute("href", "#/new");
  });

  it("picks the best picture available", () => {
    expect(previewKey(makeModel({ assets: { preview: "p" }, cutouts: ALL_CUTOUTS, photos: ALL_PHOTOS }))).toBe("p");
    expect(previewKey(makeModel({ cutouts: ALL_CUTOUTS, photos: ALL_PHOTOS }))).toBe(ALL_CUTOUTS.front);
    expect(previewKey(makeModel({ photos: ALL_PHOTOS }))).toBe(ALL_PHOTOS.front);
    expect(previewKey(makeModel())).toBeNull();
  });
});
