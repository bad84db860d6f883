import { useEffect, useState } from "react";
import { useApi } from "../apiContext";
import { errorMessage } from "../api/errors";

export interface ModelFile {
  url: string | null;
  blob: Blob | null;
  error: string | null;
  loading: boolean;
}

const EMPTY: ModelFile = { url: null, blob: null, error: null, loading: false };
const LOADING: ModelFile = { ...EMPTY, loading: true };

/** Which file the state belongs to ("" = none). */
function requestOf(modelId: string | null, key: string | null | undefined, version: string | number): string {
  return modelId && key ? JSON.stringify([modelId, key, version]) : "";
}

/**
 * A stored object of a model (photo, cut-out, GLB) as an object URL. Files need the Authorization header,
 * so they are fetched as blobs instead of being linked. `version` forces a re-fetch of a key whose
 * content was replaced (keys are deterministic).
 */
export function useModelFile(modelId: string | null, key: string | null | undefined, version: string | number = 0): ModelFile {
  const api = useApi();
  const request = requestOf(modelId, key, version);
  const [state, setState] = useState<{ request: string; file: ModelFile }>({ request: "", file: EMPTY });

  // Another file is wanted: while it loads, the previous one stays in view (none after no file at all).
  let file = state.file;
  if (state.request !== request) {
    file = !request ? EMPTY : state.request ? { ...state.file, loading: true, error: null } : LOADING;
    setState({ request, file });
  }

  useEffect(() => {
    if (!modelId || !key) return;
    const controller = new AbortController();
    let url: string | null = null;
    api
      .fetchFile(modelId, key, controller.signal)
      .then((blob) => {
        if (controller.signal.aborted) return;
        url = URL.createObjectURL(blob);
        setState({ request, file: { url, blob, error: null, loading: false } });
      })
      .catch((error: unknown) => {
        if (controller.signal.aborted) return;
        setState({ request, file: { url: null, blob: null, error: errorMessage(error), loading: false } });
      });
    return () => {
      controller.abort();
      if (url) URL.revokeObjectURL(url);
    };
  }, [api, modelId, key, request]);

  return file;
}
