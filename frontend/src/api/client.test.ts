import { afterEach, describe, expect, it, vi } from "vitest";
import { ApiError, NetworkError } from "./errors";
import { filePathFromKey, joinUrl, loadConfig } from "./client";
import { FakeBackend, FakeXhr, errorResponse, jsonResponse } from "../test/fakeBackend";
import { MODEL_ID, makeModel } from "../test/fixtures";

afterEach(() => vi.unstubAllGlobals());

describe("URLs", () => {
  it("joins base URLs; empty means the page's own origin", () => {
    expect(joinUrl("", "/api/models")).toBe("/api/models");
    expect(joinUrl("http://127.0.0.1:8001/", "/api/upload-photo")).toBe("http://127.0.0.1:8001/api/upload-photo");
  });

  it("turns object keys into file paths of the files route", () => {
    expect(filePathFromKey(MODEL_ID, `models/${MODEL_ID}/cutouts/front.png`)).toBe("cutouts/front.png");
    expect(filePathFromKey(MODEL_ID, "assets/model.glb")).toBe("assets/model.glb");
  });
});

describe("loadConfig", () => {
  it("reads the service hosts from /config.json", async () => {
    const fetchImpl = vi.fn(async () => jsonResponse({ uploadBaseUrl: "http://127.0.0.1:8001", statusBaseUrl: "" }));
    await expect(loadConfig(fetchImpl)).resolves.toMatchObject({ uploadBaseUrl: "http://127.0.0.1:8001", statusBaseUrl: "" });
    expect(fetchImpl).toHaveBeenCalledWith("/config.json", expect.anything());
  });
});

describe("ApiClient", () => {
  it("sends the token in the Authorization header only", async () => {
    const backend = new FakeBackend().on("GET", /\/api\/models\?/, () =>
      jsonResponse({ items: [makeModel()], total: 1, limit: 20, offset: 0 }),
    );
    const page = await backend.client("secret-token").listModels();
    expect(page.items).toHaveLength(1);
    const [request] = backend.requests;
    expect(request?.url).toBe("/api/models?limit=20&offset=0");
    expect(request?.headers.get("authorization")).toBe("Bearer secret-token");
    expect(request?.url).not.toContain("secret-token");
  });

  it("turns the contract's error body into an ApiError", async () => {
    const backend = new FakeBackend().on("POST", /generate-model$/, () =>
      errorResponse(409, "invalid_state", "The model has no cut-outs yet: re-run background removal first."),
    );
    const error = await backend.client().generateModel(MODEL_ID).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ApiError);
    expect(error).toMatchObject({ status: 409, code: "invalid_state", message: expect.stringMatching(/no cut-outs/) });
    expect(backend.requests[0]?.url).toBe("http://upload.test/api/generate-model");
    expect(backend.requests[0]?.body).toEqual({ model_id: MODEL_ID });
  });

  it("reports a 401 so the page can sign the user out", async () => {
    const backend = new FakeBackend().on("GET", /\/api\/models\//, () => errorResponse(401, "unauthenticated", "expired"));
    const onUnauthorized = vi.fn();
    await expect(backend.client("old", onUnauthorized).getModel(MODEL_ID)).rejects.toMatchObject({ status: 401 });
    expect(onUnauthorized).toHaveBeenCalledOnce();
  });

  it("says when a service cannot be reached", async () => {
    const backend = new FakeBackend();
    const client = backend.client();
    vi.spyOn(client, "fetchImpl").mockRejectedValue(new TypeError("Failed to fetch"));
    await expect(client.getModel(MODEL_ID)).rejects.toBeInstanceOf(NetworkError);
  });

  it("fetches stored files with the token, by their path under the model", async () => {
    const backend = new FakeBackend().on("GET", /\/files\//, () => new Response("png"));
    const blob = await backend.client().fetchFile(MODEL_ID, `models/${MODEL_ID}/cutouts/front.png`);
    expect(await blob.text()).toBe("png");
    expect(backend.requests[0]?.url).toBe(`/api/models/${MODEL_ID}/files/cutouts/front.png`);
    expect(backend.requests[0]?.headers.get("authorization")).toBe("Bearer test-token");
  });

  it("uploads a photo as multipart with progress", async () => {
    FakeXhr.install();
    const progress = vi.fn();
    const file = new File(["x".repeat(100)], "front.jpg", { type: "image/jpeg" });
    const { promise } = new FakeBackend().client("tok").uploadPhoto(MODEL_ID, "front", file, progress);
    const xhr = FakeXhr.last();
    expect(xhr.method).toBe("POST");
    expect(xhr.url).toBe("http://upload.test/api/upload-photo");
    expect(xhr.headers.Authorization).toBe("Bearer tok");
    expect(xhr.body?.get("model_id")).toBe(MODEL_ID);
    expect(xhr.body?.get("view")).toBe("front");
    expect(xhr.body?.get("file")).toBeInstanceOf(File);
    xhr.progress(25, 100);
    expect(progress).toHaveBeenLastCalledWith(0.25);
    xhr.respond(201, { model_id: MODEL_ID, view: "front", key: "k", all_views_uploaded: false });
    await expect(promise).resolves.toMatchObject({ view: "front" });
    expect(progress).toHaveBeenLastCalledWith(1);
  });

  it("rejects an upload with the server's message", async () => {
    FakeXhr.install();
    const file = new File(["x"], "front.jpg", { type: "image/jpeg" });
    const { promise } = new FakeBackend().client().uploadPhoto(MODEL_ID, "front", file, vi.fn());
    FakeXhr.last().respond(422, { error: { code: "photo_too_small", message: "The photo must be at least 512 px." } });
    await expect(promise).rejects.toMatchObject({ status: 422, message: "The photo must be at least 512 px." });
  });
});
