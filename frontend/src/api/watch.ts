/**
 * Live status of one model: the status service's SSE stream, read with fetch (EventSource cannot send
 * the Authorization header). Reconnects with backoff after a drop; while the stream stays down it polls
 * `GET /api/models/{id}` so the page never goes stale. A 401 or 404 ends the watch.
 */
import { fetchEventSource } from "@microsoft/fetch-event-source";
import type { ApiClient } from "./client";
import { ApiError, apiErrorFromText } from "./errors";
import type { Model } from "./types";

export type LiveMode = "connecting" | "live" | "reconnecting" | "polling" | "closed";

export interface WatchHandlers {
  onModel: (model: Model) => void;
  onMode?: (mode: LiveMode) => void;
  /** The watch cannot go on (signed out, model gone). */
  onFatal?: (error: ApiError) => void;
  /** The server says the model was deleted (event `deleted`); the watch ends. */
  onDeleted?: () => void;
}

export interface WatchOptions {
  pollIntervalMs?: number;
  /** Stream failures in a row before polling starts (the stream keeps retrying meanwhile). */
  failuresBeforePolling?: number;
  initialBackoffMs?: number;
  maxBackoffMs?: number;
  fetchImpl?: typeof fetch;
}

class FatalStreamError extends Error {
  constructor(readonly apiError: ApiError) {
    super(apiError.message);
  }
}

class RetriableStreamError extends Error {}

export function isFatalStatus(status: number): boolean {
  return status === 401 || status === 403 || status === 404;
}

export function backoffDelay(failures: number, initialMs: number, maxMs: number): number {
  const exponential = Math.min(maxMs, initialMs * 2 ** Math.max(0, failures - 1));
  // up to 20% jitter so many tabs do not reconnect in lockstep after a restart
  return Math.round(exponential * (0.8 + Math.random() * 0.2));
}

export function watchModel(
  api: ApiClient,
  modelId: string,
  handlers: WatchHandlers,
  options: WatchOptions = {},
): () => void {
  const pollIntervalMs = options.pollIntervalMs ?? 3000;
  const failuresBeforePolling = options.failuresBeforePolling ?? 2;
  const initialBackoffMs = options.initialBackoffMs ?? 1000;
  const maxBackoffMs = options.maxBackoffMs ?? 15000;

  const controller = new AbortController();
  let failures = 0;
  let pollTimer: ReturnType<typeof setInterval> | null = null;
  let mode: LiveMode | null = null;
  let stopped = false;

  const setMode = (next: LiveMode) => {
    if (next !== mode) {
      mode = next;
      handlers.onMode?.(next);
    }
  };

  const stop = () => {
    if (stopped) return;
    stopped = true;
    stopPolling();
    controller.abort();
    setMode("closed");
  };

  const fatal = (error: ApiError) => {
    stop();
    handlers.onFatal?.(error);
  };

  const poll = async () => {
    try {
      const model = await api.getModel(modelId, controller.signal);
      if (!stopped) handlers.onModel(model);
    } catch (error) {
      if (error instanceof ApiError && isFatalStatus(error.status)) fatal(error);
      // otherwise: keep polling, the stream is retrying too
    }
  };

  function startPolling() {
    if (pollTimer !== null || stopped) return;
    void poll();
    pollTimer = setInterval(() => void poll(), pollIntervalMs);
  }

  function stopPolling() {
    if (pollTimer !== null) clearInterval(pollTimer);
    pollTimer = null;
  }

  setMode("connecting");
  fetchEventSource(api.eventsUrl(modelId), {
    headers: api.authHeaders(),
    signal: controller.signal,
    // a hidden tab drops the stream and reopens it when visible again (saves phone batteries)
    openWhenHidden: false,
    fetch: options.fetchImpl ?? api.fetchImpl,
    async onopen(response) {
      const contentType = response.headers.get("content-type") ?? "";
      if (response.ok && contentType.startsWith("text/event-stream")) {
        failures = 0;
        stopPolling();
        setMode("live");
        return;
      }
      const error = apiErrorFromText(response.status, await response.text().catch(() => ""));
      if (isFatalStatus(response.status)) throw new FatalStreamError(error);
      throw new RetriableStreamError(error.message);
    },
    onmessage(message) {
      if (message.event === "deleted") {
        stop();
        handlers.onDeleted?.();
        return;
      }
      if (message.event && message.event !== "status") return; // keep-alive comments never get here
      if (!message.data) return;
      try {
        handlers.onModel(JSON.parse(message.data) as Model);
      } catch {
        // a malformed frame is skipped; the next one (or a poll) brings the current state
      }
    },
    onclose() {
      // the server ended the stream (restart, deploy, idle timeout): reconnect
      throw new RetriableStreamError("stream closed");
    },
    onerror(error) {
      if (error instanceof FatalStreamError) {
        fatal(error.apiError);
        throw error; // stops fetchEventSource
      }
      failures += 1;
      if (failures >= failuresBeforePolling) {
        setMode("polling");
        startPolling();
      } else {
        setMode("reconnecting");
      }
      return backoffDelay(failures, initialBackoffMs, maxBackoffMs);
    },
  }).catch(() => {
    // fatal errors were reported through onFatal already
  });

  return stop;
}
