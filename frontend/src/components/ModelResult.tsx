import { useState } from "react";
import { supportsQuickLook } from "../arQuickLook";
import { useApi } from "../apiContext";
import { errorMessage } from "../api/errors";
import type { Model } from "../api/types";
import { safeFileName, saveBlob } from "../downloads";
import { useModelFile } from "../hooks/useModelFile";
import { formatDimensions } from "../modelOptions";
import { ModelViewer } from "./ModelViewer";

const DOWNLOAD_FORMATS: { format: string; label: string; extension: string }[] = [
  { format: "glb", label: "GLB (textured)", extension: "glb" },
  { format: "obj", label: "OBJ", extension: "obj" },
  { format: "stl", label: "STL (3D printing)", extension: "stl" },
  { format: "usdz", label: "USDZ (Apple AR)", extension: "usdz" },
];

/** The finished model: the interactive viewer and the downloads. */
export function ModelResult({ model }: { model: Model }) {
  const api = useApi();
  const glb = useModelFile(model.id, model.assets.glb ?? null);
  const preview = useModelFile(model.id, model.assets.preview ?? null);
  // the USDZ is fetched only where AR Quick Look can open it (Safari on iOS); elsewhere it is a download
  const [quickLook] = useState(supportsQuickLook);
  const usdz = useModelFile(model.id, quickLook ? (model.assets.usdz ?? null) : null);
  const [downloading, setDownloading] = useState<string | null>(null);
  const [downloadError, setDownloadError] = useState<string | null>(null);
  const baseName = safeFileName(model.name, `model-${model.id.slice(0, 8)}`);

  const download = async (format: string, extension: string) => {
    const key = model.assets[format];
    if (!key) return;
    setDownloadError(null);
    if (format === "glb" && glb.blob) {
      saveBlob(glb.blob, `${baseName}.${extension}`);
      return;
    }
    setDownloading(format);
    try {
      saveBlob(await api.fetchFile(model.id, key), `${baseName}.${extension}`);
    } catch (error) {
      setDownloadError(`Download failed: ${errorMessage(error)}`);
    } finally {
      setDownloading(null);
    }
  };

  const formats = DOWNLOAD_FORMATS.filter(({ format }) => model.assets[format]).map((entry) =>
    // a model made without texture has plain geometry in its GLB too
    entry.format === "glb" && !model.options.texture ? { ...entry, label: "GLB" } : entry,
  );

  return (
    <section className="result" aria-labelledby="result-title">
      <h2 id="result-title" className="section-title">
        Your 3D model
      </h2>
      {model.assets.glb ? (
        <ModelViewer
          src={glb.url}
          alt={`3D model of ${model.name ?? "your object"}`}
          poster={preview.url}
          iosSrc={usdz.url}
          loading={glb.loading}
          error={glb.error}
        />
      ) : (
        <p className="notice">The model finished without a GLB file; download another format below.</p>
      )}
      <div className="result__downloads">
        {formats.map(({ format, label, extension }) => (
          <button
            key={format}
            type="button"
            className={`button${format === "glb" ? " button--primary" : ""}`}
            disabled={downloading !== null}
            onClick={() => void download(format, extension)}
          >
            {downloading === format ? "Preparing…" : `Download ${label}`}
          </button>
        ))}
      </div>
      {usdz.url ? (
        <p className="result__ar">
          {/* AR Quick Look wants the link's only child to be an image */}
          <a rel="ar" href={usdz.url} aria-label="View in your space (AR Quick Look)">
            <img src={preview.url ?? "/favicon.svg"} alt="View in your space" />
          </a>
        </p>
      ) : null}
      <ResultFacts model={model} />
      <p className="field__error" role={downloadError ? "alert" : undefined}>
        {downloadError ?? ""}
      </p>
    </section>
  );
}

/** What came out: the real size (when known) and the mesh's size in faces, against the budget. */
function ResultFacts({ model }: { model: Model }) {
  const facts: string[] = [];
  if (model.dimensions_m) facts.push(`Size ${formatDimensions(model.dimensions_m)} (width × height × depth)`);
  if (model.vertex_count !== null && model.face_count !== null) {
    const budget = model.options ? ` (budget ${model.options.target_faces.toLocaleString()})` : "";
    facts.push(`${model.vertex_count.toLocaleString()} vertices · ${model.face_count.toLocaleString()} faces${budget}`);
  }
  // what the generator said about the result, e.g. a face budget its provider could not meet
  if (model.stage_detail) facts.push(model.stage_detail);
  if (facts.length === 0) return null;
  return (
    <ul className="muted result__facts" aria-label="About this model" data-testid="model-facts">
      {facts.map((fact) => (
        <li key={fact}>{fact}</li>
      ))}
    </ul>
  );
}
