import { act, screen, waitFor, within } from "@testing-library/react";
import userEvent from "@testing-library/user-event";
import { beforeEach, describe, expect, it, vi } from "vitest";
import { FakeXhr, modelBackend } from "../../test/fakeBackend";
import { ALL_CUTOUTS, ALL_PHOTOS, MODEL_ID, makeModel } from "../../test/fixtures";
import { renderWithApi } from "../../test/render";
import { ModelCreationPage } from "../ModelCreationPage";

vi.mock("@google/model-viewer", () => ({}));

const CORRECTED = {
  code: "cutout_corrected",
  message: "Part of the background next to the object was removed from the left photo's cut-out.",
};


const slot = (name: string) => screen.getByRole("region", { name });

beforeEach(() => FakeXhr.install());

describe("per-photo warnings", () => {
  it("shows each warning next to the photo it concerns, and none elsewhere", async () => {
    const model = makeModel({
      status: "generating_3d_model",
      photos: ALL_PHOTOS,
      cutouts: ALL_CUTOUTS,
      photo_warnings: { front: [], left: [CORRECTED], right: [], back: [] },
    });
    renderWithApi(<ModelCreationPage modelId={MODEL_ID} />, modelBackend(() => model).client());

    const warning = await screen.findByTestId("photo-warning-left");
    expect(within(slot("Left")).getByTestId("photo-warning-left")).toBe(warning);
    expect(warning).toHaveTextContent(CORRECTED.message);
    expect(within(warning).getByRole("listitem")).toHaveAttribute("data-code", "cutout_corrected");
    for (const view of ["front", "right", "back"]) expect(screen.queryByTestId(`photo-warning-${view}`)).toBeNull();
  });

  it("hides a warning while background removal runs again, since it concerns the old cut-out", async () => {
    const model = makeModel({
      status: "removing_background",
      progress: 0.2,
      photos: ALL_PHOTOS,
      cutouts: ALL_CUTOUTS,
      photo_warnings: { front: [], left: [CORRECTED], right: [], back: [] },
    });
    renderWithApi(<ModelCreationPage modelId={MODEL_ID} />, modelBackend(() => model).client());
    expect(await within(slot("Left")).findByText("Removing background…")).toBeInTheDocument();
    expect(screen.queryByTestId("photo-warning-left")).toBeNull();
  });

  it("drops the warning of a photo the user replaces: it was about the old cut-out", async () => {
    const user = userEvent.setup({ delay: null });
    const model = makeModel({
      status: "failed",
      error_stage: "generation",
      error_message: "The 3D service did not answer.",
      photos: ALL_PHOTOS,
      cutouts: ALL_CUTOUTS,
      photo_warnings: { front: [], left: [CORRECTED], right: [], back: [] },
    });
    renderWithApi(<ModelCreationPage modelId={MODEL_ID} />, modelBackend(() => model).client());
    expect(await screen.findByTestId("photo-warning-left")).toBeInTheDocument();

    await user.upload(within(slot("Left")).getByLabelText("Left photo file"), new File(["jpeg"], "left.jpg", { type: "image/jpeg" }));
    await act(async () => FakeXhr.last().respond(201, { model_id: MODEL_ID, view: "left", key: ALL_PHOTOS.left }));
    await waitFor(() => expect(screen.queryByTestId("photo-warning-left")).toBeNull());
  });
});
