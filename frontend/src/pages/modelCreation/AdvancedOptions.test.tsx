import { screen, waitFor, within } from "@testing-library/react";
import userEvent from "@testing-library/user-event";
import { beforeEach, describe, expect, it, vi } from "vitest";
import type { Model } from "../../api/types";
import { FakeBackend, FakeXhr, jsonResponse, modelBackend } from "../../test/fakeBackend";
import { ALL_CUTOUTS, ALL_PHOTOS, MODEL_ID, makeModel } from "../../test/fixtures";
import { renderWithApi } from "../../test/render";
import { ModelCreationPage } from "../ModelCreationPage";

vi.mock("@google/model-viewer", () => ({}));

const jpeg = () => new File(["jpeg-bytes"], "front.jpg", { type: "image/jpeg" });
const slot = (name: string) => screen.getByRole("region", { name });

function creatingBackend() {
  const created: Model = makeModel();
  return new FakeBackend()
    .serveEvents(() => created)
    .on("GET", /\/api\/models\/[^/?]+$/, () => jsonResponse(created))
    .on("POST", /\/api\/models$/, () => jsonResponse(created, 201));
}

beforeEach(() => FakeXhr.install());

describe("the creation form's advanced options", () => {
  it("are collapsed, and the model is created with what the user chose", async () => {
    const user = userEvent.setup({ delay: null });
    const backend = creatingBackend();
    renderWithApi(<ModelCreationPage />, backend.client());

    const summary = screen.getByText("Advanced options");
    expect(screen.getByLabelText("Face budget")).not.toBeVisible();
    await user.click(summary);
    await user.type(screen.getByLabelText("Size"), "30");
    await user.type(screen.getByLabelText("Face budget"), "5000");
    await user.click(screen.getByLabelText("Texture (colours from the photos)"));
    expect(summary).toHaveTextContent("(changed)");

    await user.upload(within(slot("Front")).getByLabelText("Front photo file"), jpeg());
    await waitFor(() => expect(backend.requestsTo("POST", /\/api\/models$/)).toHaveLength(1));
    expect(backend.requestsTo("POST", /\/api\/models$/)[0]?.body).toEqual({
      height_m: 0.3,
      target_faces: 5000,
      texture: false,
    });
  });

  it("names a value out of bounds and creates nothing until it is fixed", async () => {
    const user = userEvent.setup({ delay: null });
    const backend = creatingBackend();
    renderWithApi(<ModelCreationPage />, backend.client());
    await user.click(screen.getByText("Advanced options"));
    const faces = screen.getByLabelText("Face budget");
    await user.type(faces, "500");

    expect(faces).toHaveAttribute("aria-invalid", "true");
    expect(faces).toHaveAccessibleDescription(/whole number from 1,000 to 300,000/);
    await user.upload(within(slot("Front")).getByLabelText("Front photo file"), jpeg());
    expect(await within(slot("Front")).findByRole("alert")).toHaveTextContent(/check the advanced options/);
    expect(backend.requestsTo("POST", /\/api\/models$/)).toHaveLength(0);
    expect(FakeXhr.instances).toHaveLength(0);
  });

  it("go back to the defaults with one click", async () => {
    const user = userEvent.setup({ delay: null });
    const backend = creatingBackend();
    renderWithApi(<ModelCreationPage />, backend.client());
    await user.click(screen.getByText("Advanced options"));
    const reset = screen.getByRole("button", { name: "Reset to defaults" });
    expect(reset).toBeDisabled();
    await user.type(screen.getByLabelText("Size"), "2");
    await user.selectOptions(screen.getByLabelText("Unit"), "m");
    await user.click(screen.getByLabelText("Texture (colours from the photos)"));
    await user.click(reset);

    expect(screen.getByLabelText("Size")).toHaveValue("");
    expect(screen.getByLabelText("Texture (colours from the photos)")).toBeChecked();
    expect(reset).toBeDisabled();
    await user.upload(within(slot("Front")).getByLabelText("Front photo file"), jpeg());
    await waitFor(() => expect(backend.requestsTo("POST", /\/api\/models$/)).toHaveLength(1));
    expect(backend.requestsTo("POST", /\/api\/models$/)[0]?.body).toEqual({});
  });

  it("can change the options for a generation re-run; what is left alone keeps the model's", async () => {
    const user = userEvent.setup({ delay: null });
    const failed = makeModel({
      status: "failed",
      error_stage: "generation",
      error_message: "The provider cannot make fewer than 10,000 faces.",
      photos: ALL_PHOTOS,
      cutouts: ALL_CUTOUTS,
      options: { height_m: 0.3, width_m: null, target_faces: 5000, texture: false },
    });
    const backend = modelBackend(() => failed).on("POST", /\/api\/generate-model$/, () => new Response(null, { status: 202 }));
    renderWithApi(<ModelCreationPage modelId={MODEL_ID} />, backend.client());

    await user.click(await screen.findByText("Change options for this run"));
    const faces = screen.getByLabelText("Face budget");
    expect(faces).toHaveAttribute("placeholder", "5,000");
    // the model was made without texture: the box says so, and leaving it sends nothing about it
    expect(screen.getByLabelText("Texture (colours from the photos)")).not.toBeChecked();
    await user.type(faces, "12000");
    await user.click(screen.getByRole("button", { name: "Re-run 3D generation" }));

    await waitFor(() => expect(backend.requestsTo("POST", /generate-model$/)).toHaveLength(1));
    expect(backend.requestsTo("POST", /generate-model$/)[0]?.body).toEqual({ model_id: MODEL_ID, target_faces: 12000 });
  });
});
