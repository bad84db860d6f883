import { useId, useRef, useState, type DragEvent, type ReactNode } from "react";

export interface PhotoPreviewProps {
  /** Short name of the view, e.g. "Front". */
  label: string;
  /** How to take this photo. */
  hint?: string;
  /** The photo as selected (object URL of the local file) or as stored on the server. */
  originalUrl: string | null;
  /** The background-removed cut-out once it exists. */
  cutoutUrl: string | null;
  /** 0..1 while the photo is being sent, null otherwise. */
  uploadProgress: number | null;
  /** What went wrong with this photo (client check or the server's answer). */
  error: string | null;
  /** The photo is stored (the server has it). */
  uploaded?: boolean;
  /** The background of this photo is being removed right now. */
  removingBackground?: boolean;
  /** Photos cannot be replaced now (processing or finished). */
  disabled?: boolean;
  /** Only show the photo: no file picker, camera or drop (model creation is switched off). */
  readOnly?: boolean;
  /** What the server noticed about this photo (e.g. its cut-out was corrected), under the status. */
  notes?: ReactNode;
  /** `accept` attribute for the file inputs. */
  accept?: string;
  onFileSelected: (file: File) => void;
  onCancelUpload?: () => void;
}

/**
 * One labelled photo slot: drag-and-drop, a file picker and the phone camera; shows the photo at once,
 * then its cut-out, with the upload's progress and any error next to it.
 */
export function PhotoPreview({
  label,
  hint,
  originalUrl,
  cutoutUrl,
  uploadProgress,
  error,
  uploaded = false,
  removingBackground = false,
  disabled = false,
  readOnly = false,
  notes = null,
  accept = "image/jpeg,image/png,image/webp,image/heic,image/heif",
  onFileSelected,
  onCancelUpload,
}: PhotoPreviewProps) {
  const id = useId();
  const fileInput = useRef<HTMLInputElement>(null);
  const cameraInput = useRef<HTMLInputElement>(null);
  const [dragging, setDragging] = useState(false);
  const [showOriginal, setShowOriginal] = useState(false);
  // the browser cannot show every accepted file (e.g. HEIC outside Safari): say so instead of a broken image
  const [undisplayable, setUndisplayable] = useState<string | null>(null);

  const uploading = uploadProgress !== null;
  const locked = disabled || readOnly || uploading;
  const showCutout = Boolean(cutoutUrl) && !showOriginal;
  const imageUrl = showCutout ? cutoutUrl : originalUrl;
  const percent = Math.round((uploadProgress ?? 0) * 100);

  const titleId = `${id}-title`;
  const statusId = `${id}-status`;
  const errorId = `${id}-error`;

  const take = (files: FileList | null | undefined) => {
    const file = files?.[0];
    if (file && !locked) onFileSelected(file);
  };

  const onDrop = (event: DragEvent<HTMLDivElement>) => {
    event.preventDefault();
    setDragging(false);
    take(event.dataTransfer?.files);
  };

  const onDragOver = (event: DragEvent<HTMLDivElement>) => {
    event.preventDefault();
    if (event.dataTransfer) event.dataTransfer.dropEffect = locked ? "none" : "copy";
    if (!locked) setDragging(true);
  };

  let state: "empty" | "uploading" | "error" | "cutout" | "original";
  if (uploading) state = "uploading";
  else if (error) state = "error";
  else if (showCutout) state = "cutout";
  else if (originalUrl) state = "original";
  else state = "empty";

  let statusText: string;
  if (uploading) statusText = `Uploading… ${percent}%`;
  else if (cutoutUrl) statusText = showOriginal ? "Original photo" : "Background removed";
  else if (removingBackground) statusText = "Removing background…";
  else if (uploaded) statusText = "Uploaded";
  else if (originalUrl) statusText = "Not uploaded yet";
  else statusText = "No photo yet";

  return (
    <section
      className={`photo-slot photo-slot--${state}${dragging ? " photo-slot--dragging" : ""}`}
      aria-labelledby={titleId}
      data-state={state}
    >
      <h3 id={titleId} className="photo-slot__title">
        {label}
      </h3>
      <div
        className={`photo-slot__frame${showCutout ? " photo-slot__frame--cutout" : ""}`}
        onDragOver={onDragOver}
        onDragEnter={onDragOver}
        onDragLeave={() => setDragging(false)}
        onDrop={onDrop}
      >
        {imageUrl && undisplayable === imageUrl ? (
          <p className="photo-slot__placeholder">This browser cannot show a preview of this file.</p>
        ) : imageUrl ? (
          <img
            className="photo-slot__image"
            src={imageUrl}
            alt={showCutout ? `${label} cut-out` : `${label} photo`}
            onError={() => setUndisplayable(imageUrl)}
          />
        ) : (
          <p className="photo-slot__placeholder">
            <span aria-hidden="true" className="photo-slot__icon">
              ⬆
            </span>
            {disabled || readOnly ? "No photo" : "Drop a photo here"}
            {hint && !readOnly ? <span className="photo-slot__hint">{hint}</span> : null}
          </p>
        )}
        {removingBackground && !cutoutUrl && !uploading ? <span className="photo-slot__spinner" aria-hidden="true" /> : null}
      </div>

      <div className="photo-slot__meter">
        <progress
          className="photo-slot__progress"
          max={100}
          value={percent}
          aria-label={`${label} upload progress`}
          hidden={!uploading}
        />
      </div>
      <p id={statusId} className="photo-slot__status" aria-live="polite">
        {statusText}
      </p>
      {/* the error's two reserved lines hold the notes while there is no error, so the grid does not move */}
      {error || !notes ? (
        <p id={errorId} className="photo-slot__error" role={error ? "alert" : undefined}>
          {error ?? ""}
        </p>
      ) : null}
      {notes}

      <div className="photo-slot__actions">
        {readOnly ? null : (
          <>
            <button
              type="button"
              className="button button--small"
              disabled={locked}
              aria-describedby={error ? errorId : statusId}
              aria-label={`${originalUrl ? "Replace" : "Choose file"} for ${label}`}
              onClick={() => fileInput.current?.click()}
            >
              {originalUrl ? "Replace" : "Choose file"}
            </button>
            <button
              type="button"
              className="button button--small camera-button"
              disabled={locked}
              aria-label={`Take photo of ${label}`}
              onClick={() => cameraInput.current?.click()}
            >
              Take photo
            </button>
          </>
        )}
        {uploading && onCancelUpload ? (
          <button
            type="button"
            className="button button--small button--ghost"
            aria-label={`Cancel ${label} upload`}
            onClick={onCancelUpload}
          >
            Cancel
          </button>
        ) : null}
        {cutoutUrl && originalUrl && !uploading ? (
          <button
            type="button"
            className="button button--small button--ghost"
            aria-pressed={showOriginal}
            onClick={() => setShowOriginal((value) => !value)}
          >
            {showOriginal ? "Show cut-out" : "Show original"}
          </button>
        ) : null}
      </div>

      {readOnly ? null : (
        <>
          <input
            ref={fileInput}
            className="visually-hidden"
            type="file"
            accept={accept}
            tabIndex={-1}
            aria-label={`${label} photo file`}
            disabled={locked}
            onChange={(event) => {
              take(event.currentTarget.files);
              event.currentTarget.value = "";
            }}
          />
          <input
            ref={cameraInput}
            className="visually-hidden"
            type="file"
            accept="image/*"
            capture="environment"
            tabIndex={-1}
            aria-label={`${label} photo from camera`}
            disabled={locked}
            onChange={(event) => {
              take(event.currentTarget.files);
              event.currentTarget.value = "";
            }}
          />
        </>
      )}
    </section>
  );
}
