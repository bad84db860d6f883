import { createElement, useEffect, useState } from "react";

export interface ModelViewerProps {
  /** Object URL of the GLB (fetched with the Authorization header). */
  src: string | null;
  alt: string;
  /** Object URL of a preview image shown while the viewer loads. */
  poster?: string | null;
  /** Object URL of the USDZ: on iOS the viewer's AR button opens it in AR Quick Look. */
  iosSrc?: string | null;
  loading?: boolean;
  error?: string | null;
}

let viewerModule: Promise<unknown> | null = null;

/** model-viewer (and three.js) are loaded only when a finished model is shown. */
function loadModelViewer(): Promise<unknown> {
  viewerModule ??= import("@google/model-viewer");
  return viewerModule;
}

/** Interactive GLB viewer: drag to orbit, scroll or pinch to zoom, arrow keys when focused. */
export function ModelViewer({ src, alt, poster = null, iosSrc = null, loading = false, error = null }: ModelViewerProps) {
  const [ready, setReady] = useState(false);
  const [loadError, setLoadError] = useState<string | null>(null);

  useEffect(() => {
    let active = true;
    loadModelViewer()
      .then(() => active && setReady(true))
      .catch(() => active && setLoadError("The 3D viewer could not be loaded."));
    return () => {
      active = false;
    };
  }, []);

  const message = error ?? loadError ?? (loading || !src || !ready ? "Loading the 3D model…" : null);

  return (
    <div className="viewer" role="region" aria-label="3D model viewer">
      {ready && src ? (
        createElement("model-viewer", {
          class: "viewer__canvas",
          src,
          alt,
          poster: poster ?? undefined,
          "camera-controls": true,
          "touch-action": "pan-y",
          "interaction-prompt": "auto",
          "shadow-intensity": "1",
          exposure: "1",
          "environment-image": "neutral",
          // AR where the device has it: WebXR on Android Chrome, AR Quick Look with the USDZ on iOS
          ...(iosSrc ? { ar: true, "ar-modes": "webxr quick-look", "ios-src": iosSrc } : {}),
        })
      ) : (
        <div className="viewer__placeholder">
          {poster ? <img className="viewer__poster" src={poster} alt="" /> : null}
        </div>
      )}
      {message ? (
        <p className={`viewer__message${error || loadError ? " viewer__message--error" : ""}`} role="status">
          {message}
        </p>
      ) : null}
      <p className="viewer__help">Drag to turn the model, scroll or pinch to zoom.</p>
    </div>
  );
}
