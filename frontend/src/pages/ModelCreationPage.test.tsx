import { act, screen, waitFor, within } from "@testing-library/react";
import userEvent from "@testing-library/user-event";
import { beforeEach, describe, expect, it, vi } from "vitest";
import { errorResponse, FakeBackend, FakeXhr, jsonResponse, modelBackend } from "../test/fakeBackend";
import { ALL_CUTOUTS, ALL_PHOTOS, MODEL_ID, makeModel } from "../test/fixtures";
import { renderWithApi } from "../test/render";
import { ModelCreationPage } from "./ModelCreationPage";

vi.mock("@google/model-viewer", () => ({}));

const jpeg = (name = "front.jpg") => new File(["jpeg-bytes"], name, { type: "image/jpeg" });


const slot = (name: string) => screen.getByRole("region", { name });

beforeEach(() => FakeXhr.install());

describe("ModelCreationPage", () => {
  it("creates the model with the first photo and uploads it with progress", async () => {
    const user = userEvent.setup();
    let current = makeModel({ name: "Blue teapot" });
    const backend = modelBackend(() => current).on("POST", /\/api\/models$/, () => jsonResponse(current, 201));
    renderWithApi(<ModelCreationPage />, backend.client());

    expect(screen.getByRole("heading", { name: "New model" })).toBeInTheDocument();
    await user.type(screen.getByLabelText("Name (optional)"), "Blue teapot");
    await user.upload(within(slot("Front")).getByLabelText("Front photo file"), jpeg());

    // shown at once, before the server has it
    expect(within(slot("Front")).getByRole("img", { name: "Front photo" })).toBeInTheDocument();
    await waitFor(() => expect(FakeXhr.instances).toHaveLength(1));
    expect(backend.requestsTo("POST", /\/api\/models$/)[0]?.body).toEqual({ name: "Blue teapot" });
    expect(window.location.hash).toBe(`#/models/${MODEL_ID}`);

    const xhr = FakeXhr.last();
    expect(xhr.url).toBe("http://upload.test/api/upload-photo");
    act(() => xhr.progress(60, 100));
    await waitFor(() =>
      expect(within(slot("Front")).getByRole("progressbar", { name: "Front upload progress" })).toHaveAttribute("value", "60"),
    );
    current = { ...current, status: "uploading_photos", photos: { front: ALL_PHOTOS.front } };
    await act(async () => {
      xhr.respond(201, { model_id: MODEL_ID, view: "front", key: ALL_PHOTOS.front, all_views_uploaded: false });
      backend.push(current);
    });
    await waitFor(() => expect(within(slot("Front")).getByText("Uploaded")).toBeInTheDocument());
    expect(screen.getByText("1 of 4 photos uploaded")).toBeInTheDocument();
  });

  it("checks type and size before sending anything", async () => {
    const user = userEvent.setup({ applyAccept: false });
    const backend = modelBackend(() => makeModel());
    renderWithApi(<ModelCreationPage modelId={MODEL_ID} />, backend.client());
    await screen.findByRole("heading", { name: "Teapot" });

    await user.upload(
      within(slot("Left")).getByLabelText("Left photo file"),
      new File(["%PDF"], "manual.pdf", { type: "application/pdf" }),
    );
    expect(within(slot("Left")).getByRole("alert")).toHaveTextContent("“manual.pdf” is not a supported photo type");
    expect(within(slot("Front")).queryByRole("alert")).not.toBeInTheDocument();
    expect(FakeXhr.instances).toHaveLength(0);
  });

  it("shows the server's error next to the photo it concerns", async () => {
    const user = userEvent.setup();
    const backend = modelBackend(() => makeModel({ status: "uploading_photos" }));
    renderWithApi(<ModelCreationPage modelId={MODEL_ID} />, backend.client());
    await screen.findByRole("heading", { name: "Teapot" });

    await user.upload(within(slot("Back")).getByLabelText("Back photo file"), jpeg("back.jpg"));
    await act(async () =>
      FakeXhr.last().respond(422, {
        error: { code: "image_too_small", message: "The photo is 300×200 px; it needs at least 512 px on each side." },
      }),
    );
    expect(await within(slot("Back")).findByRole("alert")).toHaveTextContent("at least 512 px");
    expect(within(slot("Front")).queryByRole("alert")).not.toBeInTheDocument();
  });

  it("shows the cut-outs once background removal is done", async () => {
    let current = makeModel({ status: "removing_background", photos: ALL_PHOTOS, progress: 0.5 });
    const backend = modelBackend(() => current);
    renderWithApi(<ModelCreationPage modelId={MODEL_ID} />, backend.client());

    expect(await within(slot("Front")).findByRole("img", { name: "Front photo" })).toBeInTheDocument();
    expect(within(slot("Front")).getByText("Removing background…")).toBeInTheDocument();
    expect(within(slot("Front")).getByRole("button", { name: "Replace for Front" })).toBeDisabled();

    current = { ...current, status: "generating_3d_model", cutouts: ALL_CUTOUTS, progress: 0, updated_at: "2026-11-24T04:01:00Z" };
    backend.push(current);
    expect(await within(slot("Front")).findByRole("img", { name: "Front cut-out" })).toBeInTheDocument();
    expect(backend.requestsTo("GET", /\/files\/cutouts\/front\.png$/)).toHaveLength(1);
  });

  it("re-runs a failed stage through the upload service and follows the new status", async () => {
    const user = userEvent.setup();
    let current = makeModel({
      status: "failed",
      error_stage: "generation",
      error_message: "The 3D service did not answer within 10 minutes.",
      error_retryable: true,
      photos: ALL_PHOTOS,
      cutouts: ALL_CUTOUTS,
      provider: "hunyuan",
    });
    const backend = modelBackend(() => current).on("POST", /\/api\/generate-model$/, () => {
      current = { ...current, status: "generating_3d_model", error_stage: null, error_message: null, updated_at: "2026-11-24T04:02:00Z" };
      setTimeout(() => backend.push(current), 0);
      return new Response(null, { status: 202 });
    });
    renderWithApi(<ModelCreationPage modelId={MODEL_ID} />, backend.client());

    expect(await screen.findByText("The 3D service did not answer within 10 minutes.")).toBeInTheDocument();
    await user.click(screen.getByRole("button", { name: "Re-run 3D generation" }));

    const [request] = backend.requestsTo("POST", /generate-model$/);
    expect(request?.url).toBe("http://upload.test/api/generate-model");
    expect(request?.headers.get("authorization")).toBe("Bearer test-token");
    expect(request?.body).toEqual({ model_id: MODEL_ID, provider: "hunyuan" });
    await waitFor(() => expect(screen.queryByRole("button", { name: /Re-run/ })).not.toBeInTheDocument());
    expect(screen.getByText(/^Status: Generating 3D model/)).toBeInTheDocument();
  });

  it("shows why a re-run was refused", async () => {
    const user = userEvent.setup();
    const current = makeModel({ status: "failed", error_stage: "background_removal", error_message: "x", photos: ALL_PHOTOS });
    const backend = modelBackend(() => current).on("POST", /remove-background$/, () =>
      errorResponse(409, "invalid_state", "Background removal is already running."),
    );
    renderWithApi(<ModelCreationPage modelId={MODEL_ID} />, backend.client());
    await user.click(await screen.findByRole("button", { name: "Re-run background removal" }));
    expect(await screen.findByText("Background removal is already running.")).toBeInTheDocument();
    expect(screen.getByRole("button", { name: "Re-run background removal" })).toBeEnabled();
  });

  it("offers the viewer and downloads when completed", async () => {
    const backend = modelBackend(() =>
      makeModel({
        status: "completed",
        photos: ALL_PHOTOS,
        cutouts: ALL_CUTOUTS,
        assets: { glb: `models/${MODEL_ID}/assets/model.glb`, stl: `models/${MODEL_ID}/assets/model.stl` },
        vertex_count: 1200,
        face_count: 2400,
      }),
    );
    renderWithApi(<ModelCreationPage modelId={MODEL_ID} />, backend.client());
    expect(await screen.findByRole("region", { name: "3D model viewer" })).toBeInTheDocument();
    expect(screen.getByRole("button", { name: "Download GLB (textured)" })).toBeInTheDocument();
    expect(screen.getByRole("button", { name: "Download STL (3D printing)" })).toBeInTheDocument();
    expect(screen.queryByRole("button", { name: /OBJ/ })).not.toBeInTheDocument();
    await waitFor(() => expect(backend.requestsTo("GET", /\/files\/assets\/model\.glb$/)).toHaveLength(1));
  });

  it("says so when the model does not exist", async () => {
    const backend = new FakeBackend();
    renderWithApi(<ModelCreationPage modelId={MODEL_ID} />, backend.client());
    expect(await screen.findByRole("heading", { name: "Model not found" })).toBeInTheDocument();
  });
});
