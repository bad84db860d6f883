import { waitFor } from "@testing-library/react";
import { afterEach, describe, expect, it, vi } from "vitest";
import { FakeBackend, errorResponse, jsonResponse } from "../test/fakeBackend";
import { MODEL_ID, makeModel } from "../test/fixtures";
import { backoffDelay, watchModel, type LiveMode } from "./watch";

const EVENTS = /\/api\/models\/[^/]+\/events$/;
const MODEL = /\/api\/models\/[^/?]+$/;
const fast = { initialBackoffMs: 10, maxBackoffMs: 20, pollIntervalMs: 20, failuresBeforePolling: 2 };

let stops: (() => void)[] = [];
afterEach(() => {
  for (const stop of stops) stop();
  stops = [];
});

function watch(backend: FakeBackend) {
  const models: string[] = [];
  const modes: LiveMode[] = [];
  const onFatal = vi.fn();
  const stop = watchModel(
    backend.client(),
    MODEL_ID,
    { onModel: (m) => models.push(m.status), onMode: (m) => modes.push(m), onFatal },
    fast,
  );
  stops.push(stop);
  return { models, modes, onFatal, stop };
}

describe("watchModel", () => {
  it("follows the status stream with the token in the header", async () => {
    const backend = new FakeBackend().serveEvents(() => makeModel({ status: "uploading_photos" }));
    const { models, modes } = watch(backend);
    await waitFor(() => expect(models).toEqual(["uploading_photos"]));
    expect(modes).toEqual(["connecting", "live"]);
    backend.push(makeModel({ status: "photos_uploaded" }));
    await waitFor(() => expect(models).toEqual(["uploading_photos", "photos_uploaded"]));
    const [request] = backend.requestsTo("GET", EVENTS);
    expect(request?.headers.get("authorization")).toBe("Bearer test-token");
    expect(request?.url).toBe(`/api/models/${MODEL_ID}/events`);
  });

  it("reconnects after the stream drops and picks up the current state", async () => {
    let status: "removing_background" | "generating_3d_model" = "removing_background";
    const backend = new FakeBackend().serveEvents(() => makeModel({ status }));
    const { models, modes } = watch(backend);
    await waitFor(() => expect(models).toEqual(["removing_background"]));
    status = "generating_3d_model";
    backend.dropStreams();
    await waitFor(() => expect(models).toEqual(["removing_background", "generating_3d_model"]));
    expect(backend.requestsTo("GET", EVENTS)).toHaveLength(2);
    expect(modes).toEqual(["connecting", "live", "reconnecting", "live"]);
  });

  it("polls while the stream is down, and stops polling once it is back", async () => {
    const backend = new FakeBackend()
      .on("GET", MODEL, () => jsonResponse(makeModel({ status: "generating_3d_model", progress: 0.3 })))
      .on("GET", EVENTS, () => errorResponse(503, "unavailable", "restarting"));
    const { models, modes } = watch(backend);
    await waitFor(() => expect(modes).toContain("polling"));
    await waitFor(() => expect(models.length).toBeGreaterThanOrEqual(2));
    expect(new Set(models)).toEqual(new Set(["generating_3d_model"]));

    backend.serveEvents(() => makeModel({ status: "completed" }));
    await waitFor(() => expect(models.at(-1)).toBe("completed"));
    expect(modes.at(-1)).toBe("live");
    const polls = backend.requestsTo("GET", MODEL).length;
    await new Promise((resolve) => setTimeout(resolve, 80));
    expect(backend.requestsTo("GET", MODEL).length).toBe(polls);
  });

  it("ends when the server says the model was deleted", async () => {
    const backend = new FakeBackend().on("GET", EVENTS, () =>
      new Response(`: keep-alive\n\nevent: deleted\ndata: {"id": "${MODEL_ID}"}\n\n`, {
        headers: { "Content-Type": "text/event-stream" },
      }),
    );
    const onDeleted = vi.fn();
    const stop = watchModel(backend.client(), MODEL_ID, { onModel: vi.fn(), onDeleted }, fast);
    stops.push(stop);
    await waitFor(() => expect(onDeleted).toHaveBeenCalledOnce());
    await new Promise((resolve) => setTimeout(resolve, 60));
    expect(backend.requestsTo("GET", EVENTS)).toHaveLength(1);
  });

  it("gives up when the model is gone", async () => {
    const backend = new FakeBackend().on("GET", EVENTS, () => errorResponse(404, "not_found", "no such model"));
    const { onFatal, modes } = watch(backend);
    await waitFor(() => expect(onFatal).toHaveBeenCalledWith(expect.objectContaining({ status: 404 })));
    expect(modes.at(-1)).toBe("closed");
    await new Promise((resolve) => setTimeout(resolve, 60));
    expect(backend.requestsTo("GET", EVENTS)).toHaveLength(1);
  });

  it("backs off exponentially up to a ceiling", () => {
    vi.spyOn(Math, "random").mockReturnValue(1);
    expect(backoffDelay(1, 1000, 15000)).toBe(1000);
    expect(backoffDelay(3, 1000, 15000)).toBe(4000);
    expect(backoffDelay(10, 1000, 15000)).toBe(15000);
  });
});
