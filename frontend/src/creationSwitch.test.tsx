import { act, render, screen, waitFor, within } from "@testing-library/react";
import userEvent from "@testing-library/user-event";
import { beforeEach, describe, expect, it, vi } from "vitest";
import { App } from "./App";
import { ModelCreationPage } from "./pages/ModelCreationPage";
import { FakeBackend, FakeXhr, jsonResponse, modelBackend } from "./test/fakeBackend";
import { ALL_CUTOUTS, ALL_PHOTOS, MODEL_ID, fakeJwt, makeModel } from "./test/fixtures";
import { renderWithApi } from "./test/render";

vi.mock("@google/model-viewer", () => ({}));

const NOTICE = "We are moving to new servers: new models are back at 10:00.";
const OFF = { creationEnabled: false, creationNotice: NOTICE };


const slot = (name: string) => screen.getByRole("region", { name });

beforeEach(() => FakeXhr.install());

describe("the UI switch (model creation off)", () => {
  it("shows the notice on every page and offers no way to create a model", async () => {
    const backend = new FakeBackend()
      .on("GET", /^\/config\.json$/, () => jsonResponse({ uploadBaseUrl: "http://upload.test", statusBaseUrl: "", ...OFF }))
      .on("GET", /\/api\/models\?/, () => jsonResponse({ items: [], total: 0, limit: 20, offset: 0 }));
    vi.stubGlobal("fetch", backend.fetch);
    sessionStorage.setItem("photo3d.token", fakeJwt({ sub: "alice" }));
    render(<App />);

    expect(await screen.findByTestId("creation-disabled-notice")).toHaveTextContent(NOTICE);
    expect(await screen.findByText("You have no models yet.")).toBeInTheDocument();
    expect(screen.queryByRole("link", { name: /New model|Create your first model/ })).toBeNull();

    await act(async () => {
      window.location.hash = "#/new";
    });
    expect(await screen.findByText("New models cannot be created at the moment.")).toBeInTheDocument();
    expect(screen.getByTestId("creation-disabled-notice")).toHaveTextContent(NOTICE);
    expect(screen.queryByLabelText("Name (optional)")).toBeNull();
    expect(screen.queryByLabelText(/photo file/)).toBeNull();
  });

  it("shows an existing model read-only: its photos and failure, no upload slots, no re-run", async () => {
    const model = makeModel({
      status: "failed",
      error_stage: "generation",
      error_message: "The 3D service did not answer within 10 minutes.",
      error_retryable: true,
      photos: ALL_PHOTOS,
      cutouts: ALL_CUTOUTS,
    });
    renderWithApi(<ModelCreationPage modelId={MODEL_ID} />, modelBackend(() => model).client(undefined, undefined, OFF));

    expect(await screen.findByText("The 3D service did not answer within 10 minutes.")).toBeInTheDocument();
    expect(await within(slot("Front")).findByRole("img", { name: "Front cut-out" })).toBeInTheDocument();
    expect(screen.queryByRole("button", { name: /Re-run|Start over/ })).toBeNull();
    expect(screen.queryByLabelText(/photo file|photo from camera/)).toBeNull();
    expect(screen.queryByRole("button", { name: /Replace|Choose file|Take photo/ })).toBeNull();
    // looking stays possible
    expect(within(slot("Front")).getByRole("button", { name: "Show original" })).toBeEnabled();
  });

  it("turns read-only at once when the upload service answers that creation was switched off", async () => {
    const user = userEvent.setup();
    const model = makeModel({ status: "uploading_photos", photos: { ...ALL_PHOTOS, back: null } });
    renderWithApi(<ModelCreationPage modelId={MODEL_ID} />, modelBackend(() => model).client());
    await screen.findByRole("heading", { name: "Teapot" });

    await user.upload(within(slot("Back")).getByLabelText("Back photo file"), new File(["jpeg"], "back.jpg", { type: "image/jpeg" }));
    await act(async () =>
      FakeXhr.last().respond(503, { error: { code: "creation_disabled", message: NOTICE } }),
    );
    expect(await within(slot("Back")).findByRole("alert")).toHaveTextContent(NOTICE);
    await waitFor(() => expect(screen.queryByLabelText(/photo file/)).toBeNull());
  });

  it("keeps creation on when /config.json says nothing about it", async () => {
    const backend = modelBackend(() => makeModel());
    renderWithApi(<ModelCreationPage />, backend.client());
    expect(screen.getByLabelText("Name (optional)")).toBeInTheDocument();
    expect(within(slot("Front")).getByLabelText("Front photo file")).toBeInTheDocument();
  });
});
