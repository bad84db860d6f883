import { render, screen, within } from "@testing-library/react";
import userEvent from "@testing-library/user-event";
import { describe, expect, it, vi } from "vitest";
import { ALL_CUTOUTS, ALL_PHOTOS, makeModel } from "../test/fixtures";
import { StageProgress } from "./StageProgress";

describe("StageProgress", () => {
  it("shows the plan's stages with the running one's progress", () => {
    render(
      <StageProgress
        model={makeModel({ status: "removing_background", photos: ALL_PHOTOS, progress: 0.5, stage_detail: "2 of 4 photos" })}
        onRetry={vi.fn()}
      />,
    );
    const items = screen.getAllByRole("listitem");
    expect(items.map((item) => item.getAttribute("data-stage"))).toEqual([
      "uploading",
      "removing_background",
      "generating",
      "completed",
    ]);
    const current = items[1]!;
    expect(current).toHaveAttribute("aria-current", "step");
    expect(within(current).getByRole("progressbar")).toHaveAttribute("value", "50");
    expect(within(current).getByText("2 of 4 photos")).toBeInTheDocument();
    expect(screen.getByText("Status: Removing backgrounds")).toBeInTheDocument();
    expect(screen.queryByRole("button")).not.toBeInTheDocument();
  });

  it("a failed generation shows its reason and re-runs generation", async () => {
    const onRetry = vi.fn();
    render(
      <StageProgress
        model={makeModel({
          status: "failed",
          error_stage: "generation",
          error_message: "The 3D service timed out after 10 minutes.",
          error_retryable: true,
          photos: ALL_PHOTOS,
          cutouts: ALL_CUTOUTS,
        })}
        onRetry={onRetry}
      />,
    );
    const failed = screen.getAllByRole("listitem")[2]!;
    expect(within(failed).getByText("Failed")).toBeInTheDocument();
    expect(within(failed).getByText("The 3D service timed out after 10 minutes.")).toBeInTheDocument();
    await userEvent.setup().click(screen.getByRole("button", { name: "Re-run 3D generation" }));
    expect(onRetry).toHaveBeenCalledWith("generate-model");
  });

  it("a failed background removal re-runs background removal", async () => {
    const onRetry = vi.fn();
    render(
      <StageProgress
        model={makeModel({
          status: "failed",
          error_stage: "background_removal",
          error_message: "No object found in the left photo.",
          error_retryable: false,
          photos: ALL_PHOTOS,
        })}
        onRetry={onRetry}
      />,
    );
    expect(screen.getByText("No object found in the left photo.")).toBeInTheDocument();
    expect(screen.getByText(/replace the photo/)).toBeInTheDocument();
    await userEvent.setup().click(screen.getByRole("button", { name: "Re-run background removal" }));
    expect(onRetry).toHaveBeenCalledWith("remove-background");
  });

  it("disables the button while the re-run is being requested and shows the server's refusal", () => {
    render(
      <StageProgress
        model={makeModel({ status: "failed", error_stage: "generation", error_message: "x", photos: ALL_PHOTOS })}
        onRetry={vi.fn()}
        retrying
        retryError="The model is already being generated."
      />,
    );
    expect(screen.getByRole("button", { name: "Starting…" })).toBeDisabled();
    expect(screen.getByText("The model is already being generated.")).toBeInTheDocument();
  });
});
