import { useCallback, useEffect, useState } from "react";
import { useApi } from "../apiContext";
import { ApiError } from "../api/errors";
import type { Model } from "../api/types";
import { watchModel, type LiveMode } from "../api/watch";

export interface LiveModel {
  /** The newest state of the model seen so far; null until the first answer. */
  model: Model | null;
  liveMode: LiveMode;
  /** Why the model cannot be shown (it does not exist or was deleted), or null. */
  loadError: string | null;
  /** Shows a model the page got another way (the answer to creating it). */
  adopt: (model: Model) => void;
}

const MISSING = "This model does not exist (it may have been deleted).";

/** Newer state wins: the stream and the polling fallback can briefly overlap. */
export function newer(current: Model | null, next: Model): Model {
  if (!current || current.id !== next.id) return next;
  return Date.parse(next.updated_at) >= Date.parse(current.updated_at) ? next : current;
}

/**
 * One model's live status: fetched once at once, then followed over the status service's event stream
 * (with its polling fallback, see api/watch.ts) until it is completed, deleted or the page goes away.
 */
export function useLiveModel(modelId: string | null): LiveModel {
  const api = useApi();
  const [model, setModel] = useState<Model | null>(null);
  const [liveMode, setLiveMode] = useState<LiveMode>("connecting");
  const [loadError, setLoadError] = useState<string | null>(null);

  const adopt = useCallback((fresh: Model) => setModel((current) => newer(current, fresh)), []);

  useEffect(() => {
    if (!modelId) return;
    let stopped = false;
    const controller = new AbortController();
    api
      .getModel(modelId, controller.signal)
      .then((fresh) => {
        if (!stopped) adopt(fresh);
      })
      .catch((error: unknown) => {
        if (!stopped && error instanceof ApiError && error.status === 404) setLoadError(MISSING);
      });
    const stop = watchModel(api, modelId, {
      onModel: (fresh) => {
        adopt(fresh);
        if (fresh.status === "completed") stop(); // terminal: nothing more will change
      },
      onMode: setLiveMode,
      onDeleted: () => setLoadError("This model was deleted."),
      onFatal: (error) => {
        if (error.status === 404) setLoadError(MISSING);
      },
    });
    return () => {
      stopped = true;
      controller.abort();
      stop();
    };
  }, [api, modelId, adopt]);

  return { model, liveMode, loadError, adopt };
}
