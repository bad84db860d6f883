import { fireEvent, render, screen } from "@testing-library/react";
import userEvent from "@testing-library/user-event";
import { describe, expect, it, vi } from "vitest";
import { PhotoPreview, type PhotoPreviewProps } from "./PhotoPreview";

function renderPreview(props: Partial<PhotoPreviewProps> = {}) {
  const onFileSelected = vi.fn();
  const utils = render(
    <PhotoPreview
      label="Front"
      hint="Face the object head-on"
      originalUrl={null}
      cutoutUrl={null}
      uploadProgress={null}
      error={null}
      onFileSelected={onFileSelected}
      {...props}
    />,
  );
  const slot = screen.getByRole("region", { name: "Front" });
  return { ...utils, onFileSelected, slot };
}

const photo = () => new File(["jpeg bytes"], "front.jpg", { type: "image/jpeg" });

describe("PhotoPreview", () => {
  it("empty: invites a drop, a file or the camera", () => {
    const { slot } = renderPreview();
    expect(slot).toHaveAttribute("data-state", "empty");
    expect(screen.getByText("Drop a photo here")).toBeInTheDocument();
    expect(screen.queryByRole("img")).not.toBeInTheDocument();
    expect(screen.getByRole("button", { name: "Choose file for Front" })).toBeEnabled();
    expect(screen.getByRole("button", { name: "Take photo of Front" })).toBeEnabled();
    expect(screen.getByText("No photo yet")).toBeInTheDocument();
    // the camera input asks for the phone's rear camera
    expect(screen.getByLabelText("Front photo from camera")).toHaveAttribute("capture", "environment");
    // the progress bar keeps its space but is hidden
    expect(screen.getByLabelText("Front upload progress", { selector: "progress" })).not.toBeVisible();
  });

  it("hands a picked file to the page", async () => {
    const user = userEvent.setup();
    const { onFileSelected } = renderPreview();
    const file = photo();
    await user.upload(screen.getByLabelText("Front photo file"), file);
    expect(onFileSelected).toHaveBeenCalledWith(file);
  });

  it("hands a dropped file to the page", () => {
    const { onFileSelected } = renderPreview();
    const file = photo();
    const frame = screen.getByText("Drop a photo here").closest(".photo-slot__frame");
    expect(frame).not.toBeNull();
    fireEvent.dragOver(frame!, { dataTransfer: { files: [file], dropEffect: "none" } });
    expect(screen.getByRole("region", { name: "Front" })).toHaveClass("photo-slot--dragging");
    fireEvent.drop(frame!, { dataTransfer: { files: [file] } });
    expect(onFileSelected).toHaveBeenCalledWith(file);
  });

  it("uploading: shows the photo at once with the upload's progress, and can be cancelled", async () => {
    const onCancelUpload = vi.fn();
    const { slot } = renderPreview({ originalUrl: "blob:local-front", uploadProgress: 0.37, onCancelUpload });
    expect(slot).toHaveAttribute("data-state", "uploading");
    expect(screen.getByRole("img", { name: "Front photo" })).toHaveAttribute("src", "blob:local-front");
    const progress = screen.getByRole("progressbar", { name: "Front upload progress" });
    expect(progress).toBeVisible();
    expect(progress).toHaveAttribute("value", "37");
    expect(screen.getByText("Uploading… 37%")).toBeInTheDocument();
    // no second file while one is on its way
    expect(screen.getByRole("button", { name: "Replace for Front" })).toBeDisabled();
    await userEvent.setup().click(screen.getByRole("button", { name: "Cancel Front upload" }));
    expect(onCancelUpload).toHaveBeenCalledOnce();
  });

  it("error: shows the server's message next to the photo and allows another try", () => {
    const message = "The photo is 320×240 pixels; it needs at least 512 on each side.";
    const { slot } = renderPreview({ originalUrl: "blob:local-front", error: message });
    expect(slot).toHaveAttribute("data-state", "error");
    expect(screen.getByRole("alert")).toHaveTextContent(message);
    expect(screen.getByRole("img", { name: "Front photo" })).toBeInTheDocument();
    const replace = screen.getByRole("button", { name: "Replace for Front" });
    expect(replace).toBeEnabled();
    expect(replace).toHaveAccessibleDescription(message);
  });

  it("original: shows the stored photo", () => {
    const { slot } = renderPreview({ originalUrl: "blob:server-front", uploaded: true });
    expect(slot).toHaveAttribute("data-state", "original");
    expect(screen.getByRole("img", { name: "Front photo" })).toHaveAttribute("src", "blob:server-front");
    expect(screen.getByText("Uploaded")).toBeInTheDocument();
    expect(screen.queryByRole("alert")).not.toBeInTheDocument();
  });

  it("says when the browser cannot show the picked file instead of a broken image", () => {
    renderPreview({ originalUrl: "blob:heic-front", uploadProgress: 0.1 });
    fireEvent.error(screen.getByRole("img", { name: "Front photo" }));
    expect(screen.queryByRole("img")).not.toBeInTheDocument();
    expect(screen.getByText("This browser cannot show a preview of this file.")).toBeInTheDocument();
  });

  it("original while its background is being removed", () => {
    renderPreview({ originalUrl: "blob:server-front", uploaded: true, removingBackground: true });
    expect(screen.getByText("Removing background…")).toBeInTheDocument();
  });

  it("cut-out: replaces the photo once the background is removed, with a way back to the original", async () => {
    const user = userEvent.setup();
    const { slot } = renderPreview({ originalUrl: "blob:server-front", cutoutUrl: "blob:cutout-front", uploaded: true });
    expect(slot).toHaveAttribute("data-state", "cutout");
    expect(screen.getByRole("img", { name: "Front cut-out" })).toHaveAttribute("src", "blob:cutout-front");
    expect(screen.getByText("Background removed")).toBeInTheDocument();

    await user.click(screen.getByRole("button", { name: "Show original" }));
    expect(screen.getByRole("img", { name: "Front photo" })).toHaveAttribute("src", "blob:server-front");
    expect(screen.getByRole("button", { name: "Show cut-out" })).toHaveAttribute("aria-pressed", "true");
  });

  it("disabled: the photo cannot be replaced while the model is processed", async () => {
    const { onFileSelected } = renderPreview({ originalUrl: "blob:x", uploaded: true, disabled: true });
    expect(screen.getByRole("button", { name: "Replace for Front" })).toBeDisabled();
    const frame = screen.getByRole("img").closest(".photo-slot__frame")!;
    fireEvent.drop(frame, { dataTransfer: { files: [photo()] } });
    expect(onFileSelected).not.toHaveBeenCalled();
  });

  it("is operable by keyboard: the file button opens the picker", async () => {
    const user = userEvent.setup();
    renderPreview();
    const input = screen.getByLabelText<HTMLInputElement>("Front photo file");
    const click = vi.spyOn(input, "click");
    await user.tab();
    expect(screen.getByRole("button", { name: "Choose file for Front" })).toHaveFocus();
    await user.keyboard("{Enter}");
    expect(click).toHaveBeenCalled();
  });
});
