/**
 * Every call the page makes to the upload and status services lives here.
 * Hosts come from /config.json; the token travels only in the Authorization header.
 */
import { CreationSwitch } from "./creationSwitch";
import { ApiError, NetworkError, apiErrorFromText, parseJsonBody } from "./errors";
import type {
  AppConfig,
  CreateModelRequest,
  GenerationRequest,
  Model,
  ModelOptionsInput,
  ModelPage,
  UploadResult,
  View,
} from "./types";

export type TokenSource = () => string | null;

export interface UploadHandle {
  promise: Promise<UploadResult>;
  abort: () => void;
}

export interface ApiClientOptions {
  config: AppConfig;
  getToken: TokenSource;
  /** Called when a service answers 401, so the page can ask the user to sign in again. */
  onUnauthorized?: () => void;
  fetchImpl?: typeof fetch;
}

/** Joins a base URL ("" = same origin) and an absolute path. */
export function joinUrl(base: string, path: string): string {
  if (!base) return path;
  return base.replace(/\/+$/, "") + path;
}

/**
 * Turns a stored object key (`models/{id}/cutouts/front.png`) into the path the files route wants
 * (`cutouts/front.png`). A key that already is relative is returned as is.
 */
export function filePathFromKey(modelId: string, key: string): string {
  const prefix = `models/${modelId}/`;
  return key.startsWith(prefix) ? key.slice(prefix.length) : key.replace(/^\/+/, "");
}

export async function loadConfig(fetchImpl: typeof fetch = fetch): Promise<AppConfig> {
  let response: Response;
  try {
    response = await fetchImpl("/config.json", { headers: { Accept: "application/json" }, cache: "no-store" });
  } catch {
    throw new NetworkError("Cannot load the page's configuration (/config.json).");
  }
  if (!response.ok) throw new ApiError(response.status, "config_unavailable", "Cannot load /config.json.");
  const raw = (await response.json()) as Partial<AppConfig>;
  return {
    ...raw,
    uploadBaseUrl: typeof raw.uploadBaseUrl === "string" ? raw.uploadBaseUrl : "",
    statusBaseUrl: typeof raw.statusBaseUrl === "string" ? raw.statusBaseUrl : "",
  };
}

export class ApiClient {
  readonly config: AppConfig;
  private readonly getToken: TokenSource;
  private readonly onUnauthorized: () => void;
  /** The fetch used for every call (injectable for tests); the live stream uses it too. */
  readonly fetchImpl: typeof fetch;
  /** Whether model creation is on (the operator's switch); see useCreation. */
  readonly creation: CreationSwitch;

  constructor({ config, getToken, onUnauthorized, fetchImpl }: ApiClientOptions) {
    this.config = config;
    this.getToken = getToken;
    this.onUnauthorized = onUnauthorized ?? (() => undefined);
    this.fetchImpl = fetchImpl ?? ((input, init) => fetch(input, init));
    this.creation = new CreationSwitch(config);
  }

  statusUrl(path: string): string {
    return joinUrl(this.config.statusBaseUrl, path);
  }

  uploadUrl(path: string): string {
    return joinUrl(this.config.uploadBaseUrl, path);
  }

  authHeaders(): Record<string, string> {
    const token = this.getToken();
    return token ? { Authorization: `Bearer ${token}` } : {};
  }

  /** Reports a 401 (sign in again) or a creation switched off to the page, then hands the error back. */
  private reportError(error: ApiError): ApiError {
    if (error.isUnauthorized) this.onUnauthorized();
    this.creation.noteError(error);
    return error;
  }

  private async send(url: string, init: RequestInit = {}, authenticated = true): Promise<Response> {
    const headers = new Headers(init.headers);
    if (authenticated) for (const [k, v] of Object.entries(this.authHeaders())) headers.set(k, v);
    if (!headers.has("Accept")) headers.set("Accept", "application/json");
    let response: Response;
    try {
      response = await this.fetchImpl(url, { ...init, headers });
    } catch (error) {
      if (error instanceof DOMException && error.name === "AbortError") throw error;
      throw new NetworkError();
    }
    if (!response.ok) {
      const error = apiErrorFromText(response.status, await response.text().catch(() => ""));
      throw authenticated ? this.reportError(error) : error;
    }
    return response;
  }

  private async json<T>(url: string, init: RequestInit = {}, authenticated = true): Promise<T> {
    const response = await this.send(url, init, authenticated);
    return (await response.json()) as T;
  }

  private jsonBody(method: string, body: unknown): RequestInit {
    return { method, headers: { "Content-Type": "application/json" }, body: JSON.stringify(body) };
  }

  // --- status service -------------------------------------------------------------------------

  /** Local runs only (`AUTH_DEV_TOKENS_ENABLED=true`). */
  async devToken(user: string): Promise<string> {
    const result = await this.json<{ token: string }>(
      this.statusUrl("/api/dev/token"),
      this.jsonBody("POST", { user }),
      false,
    );
    return result.token;
  }

  createModel(input: CreateModelRequest = {}): Promise<Model> {
    return this.json<Model>(this.statusUrl("/api/models"), this.jsonBody("POST", input));
  }

  listModels(limit = 20, offset = 0, signal?: AbortSignal): Promise<ModelPage> {
    const query = new URLSearchParams({ limit: String(limit), offset: String(offset) });
    return this.json<ModelPage>(this.statusUrl(`/api/models?${query}`), { signal: signal ?? null });
  }

  getModel(id: string, signal?: AbortSignal): Promise<Model> {
    return this.json<Model>(this.statusUrl(`/api/models/${encodeURIComponent(id)}`), { signal: signal ?? null });
  }

  async deleteModel(id: string): Promise<void> {
    await this.send(this.statusUrl(`/api/models/${encodeURIComponent(id)}`), { method: "DELETE" });
  }

  /** A stored object (photo, cut-out, GLB) as a Blob; fetched with the token, never via a URL that carries it. */
  async fetchFile(modelId: string, key: string, signal?: AbortSignal): Promise<Blob> {
    const path = filePathFromKey(modelId, key)
      .split("/")
      .map((part) => encodeURIComponent(part))
      .join("/");
    const response = await this.send(
      this.statusUrl(`/api/models/${encodeURIComponent(modelId)}/files/${path}`),
      { signal: signal ?? null, headers: { Accept: "*/*" } },
    );
    return response.blob();
  }

  eventsUrl(modelId: string): string {
    return this.statusUrl(`/api/models/${encodeURIComponent(modelId)}/events`);
  }

  // --- upload service -------------------------------------------------------------------------

  /**
   * Uploads one view with XMLHttpRequest, because fetch cannot report upload progress.
   * `onProgress` gets 0..1.
   */
  uploadPhoto(modelId: string, view: View, file: File, onProgress: (fraction: number) => void): UploadHandle {
    const xhr = new XMLHttpRequest();
    const promise = new Promise<UploadResult>((resolve, reject) => {
      const form = new FormData();
      form.append("model_id", modelId);
      form.append("view", view);
      form.append("file", file, file.name || `${view}.jpg`);
      xhr.open("POST", this.uploadUrl("/api/upload-photo"));
      xhr.responseType = "text";
      xhr.setRequestHeader("Accept", "application/json");
      for (const [k, v] of Object.entries(this.authHeaders())) xhr.setRequestHeader(k, v);
      xhr.upload.onprogress = (event) => {
        if (event.lengthComputable && event.total > 0) onProgress(Math.min(1, event.loaded / event.total));
      };
      xhr.onload = () => {
        if (xhr.status >= 200 && xhr.status < 300) {
          onProgress(1);
          resolve(parseJsonBody(xhr.responseText) as UploadResult);
        } else {
          reject(this.reportError(apiErrorFromText(xhr.status, xhr.responseText)));
        }
      };
      xhr.onerror = () => reject(new NetworkError("The upload failed: the upload service did not answer."));
      xhr.onabort = () => reject(new DOMException("Upload cancelled", "AbortError"));
      xhr.send(form);
    });
    return { promise, abort: () => xhr.abort() };
  }

  async removeBackground(modelId: string): Promise<void> {
    await this.send(this.uploadUrl("/api/remove-background"), this.jsonBody("POST", { model_id: modelId }));
  }

  /** Re-runs generation; `overrides` change the model's options for this run only (left out: kept). */
  async generateModel(modelId: string, provider?: string | null, overrides: ModelOptionsInput = {}): Promise<void> {
    const body: GenerationRequest = { model_id: modelId, ...overrides };
    if (provider) body.provider = provider;
    await this.send(this.uploadUrl("/api/generate-model"), this.jsonBody("POST", body));
  }
}
