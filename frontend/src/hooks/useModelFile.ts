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

/**
 * A stored object of a model (photo, cut-out, GLB) as an object URL. Files need the Authorization header,
 * so they are fetched as blobs instead of being linked. `version` forces a re-fetch of a key whose
 * content was replaced (keys are deterministic).
 */
export function useModelFile(modelId: string | null, key: string | null | undefined, version: string | number = 0): ModelFile {
  const api = useApi();
  const [state, setState] = useState<ModelFile>(EMPTY);

  useEffect(() => {
    if (!modelId || !key) {
      setState(EMPTY);
      return;
    }
    const controller = new AbortController();
    let url: string | null = null;
    setState((previous) => ({ ...previous, loading: true, error: null }));
    api
      .fetchFile(modelId, key, controller.signal)
      .then((blob) => {
        if (controller.signal.aborted) return;
        url = URL.createObjectURL(blob);
        setState({ url, blob, error: null, loading: false });
      })
      .catch((error: unknown) => {
        if (controller.signal.aborted) return;
        setState({ url: null, blob: null, error: errorMessage(error), loading: false });
      });
    return () => {
      controller.abort();
      if (url) URL.revokeObjectURL(url);
    };
  }, [api, modelId, key, version]);

  return state;
}
