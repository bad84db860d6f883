/**
 * A stand-in for the two services at the HTTP level, for component tests: answers fetch (status service),
 * XMLHttpRequest (uploads) and keeps SSE streams open so tests can push status changes.
 */
import { vi } from "vitest";
import { ApiClient } from "../api/client";
import type { AppConfig, Model } from "../api/types";

export interface RecordedRequest {
  method: string;
  url: string;
  headers: Headers;
  body: unknown;
}

type Handler = (request: RecordedRequest) => Response | Promise<Response>;

export const TEST_CONFIG: AppConfig = { uploadBaseUrl: "http://upload.test", statusBaseUrl: "" };

export function jsonResponse(body: unknown, status = 200): Response {
  return new Response(body === undefined ? null : JSON.stringify(body), {
    status,
    headers: { "Content-Type": "application/json" },
  });
}

export function errorResponse(status: number, code: string, message: string): Response {
  return jsonResponse({ error: { code, message } }, status);
}

export class FakeBackend {
  readonly requests: RecordedRequest[] = [];
  private readonly routes: { method: string; pattern: RegExp; handler: Handler }[] = [];
  private readonly streams = new Set<ReadableStreamDefaultController<Uint8Array>>();
  private readonly encoder = new TextEncoder();

  on(method: string, pattern: RegExp, handler: Handler): this {
    this.routes.unshift({ method, pattern, handler });
    return this;
  }

  /** Serves `GET .../events` as a stream that stays open; `push` sends a `status` event on it. */
  serveEvents(initial: () => Model): this {
    return this.on("GET", /\/api\/models\/[^/]+\/events$/, () => {
      const body = new ReadableStream<Uint8Array>({
        start: (controller) => {
          this.streams.add(controller);
          controller.enqueue(this.frame(initial()));
        },
        cancel: () => undefined,
      });
      return new Response(body, { status: 200, headers: { "Content-Type": "text/event-stream" } });
    });
  }

  push(model: Model): void {
    for (const controller of this.streams) {
      try {
        controller.enqueue(this.frame(model));
      } catch {
        this.streams.delete(controller);
      }
    }
  }

  /** Ends every open stream, as a restarting server would. */
  dropStreams(): void {
    for (const controller of this.streams) {
      try {
        controller.close();
      } catch {
        // already closed
      }
    }
    this.streams.clear();
  }

  private frame(model: Model): Uint8Array {
    return this.encoder.encode(`event: status\ndata: ${JSON.stringify(model)}\n\n`);
  }

  readonly fetch: typeof fetch = async (input, init) => {
    const url = typeof input === "string" ? input : input instanceof URL ? input.href : input.url;
    const method = (init?.method ?? "GET").toUpperCase();
    const headers = new Headers(init?.headers);
    let body: unknown = init?.body ?? null;
    if (typeof body === "string" && headers.get("content-type")?.includes("json")) body = JSON.parse(body);
    const request = { method, url, headers, body };
    this.requests.push(request);
    if (init?.signal?.aborted) throw new DOMException("aborted", "AbortError");
    const route = this.routes.find((r) => r.method === method && r.pattern.test(url));
    if (!route) return errorResponse(404, "not_found", `no fake route for ${method} ${url}`);
    return route.handler(request);
  };

  requestsTo(method: string, pattern: RegExp): RecordedRequest[] {
    return this.requests.filter((r) => r.method === method && pattern.test(r.url));
  }

  client(token: string | null = "test-token", onUnauthorized = vi.fn(), config: Partial<AppConfig> = {}): ApiClient {
    return new ApiClient({
      config: { ...TEST_CONFIG, ...config },
      getToken: () => token,
      onUnauthorized,
      fetchImpl: this.fetch,
    });
  }
}

/** A status service holding one model: its JSON, its event stream and its stored files. */
export function modelBackend(model: () => Model): FakeBackend {
  return new FakeBackend()
    .serveEvents(model)
    .on("GET", /\/api\/models\/[^/?]+$/, () => jsonResponse(model()))
    .on("GET", /\/files\//, () => new Response("image-bytes"));
}

/** XMLHttpRequest double: tests decide when and how each upload progresses and ends. */
export class FakeXhr {
  static instances: FakeXhr[] = [];

  method = "";
  url = "";
  headers: Record<string, string> = {};
  body: FormData | null = null;
  status = 0;
  responseText = "";
  responseType = "";
  aborted = false;
  upload: { onprogress: ((event: ProgressEvent) => void) | null } = { onprogress: null };
  onload: (() => void) | null = null;
  onerror: (() => void) | null = null;
  onabort: (() => void) | null = null;

  constructor() {
    FakeXhr.instances.push(this);
  }

  open(method: string, url: string) {
    this.method = method;
    this.url = url;
  }

  setRequestHeader(name: string, value: string) {
    this.headers[name] = value;
  }

  send(body: FormData) {
    this.body = body;
  }

  abort() {
    this.aborted = true;
    this.onabort?.();
  }

  progress(loaded: number, total: number) {
    this.upload.onprogress?.({ lengthComputable: true, loaded, total } as ProgressEvent);
  }

  respond(status: number, body: unknown) {
    this.status = status;
    this.responseText = JSON.stringify(body);
    this.onload?.();
  }

  static install(): void {
    FakeXhr.instances = [];
    vi.stubGlobal("XMLHttpRequest", FakeXhr);
  }

  static last(): FakeXhr {
    const xhr = FakeXhr.instances.at(-1);
    if (!xhr) throw new Error("no upload was started");
    return xhr;
  }
}
