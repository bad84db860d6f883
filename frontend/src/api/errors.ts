/** One error type for everything the page gets back from the services. */
export class ApiError extends Error {
  readonly status: number;
  readonly code: string;
  readonly detail: unknown;

  constructor(status: number, code: string, message: string, detail?: unknown) {
    super(message);
    this.name = "ApiError";
    this.status = status;
    this.code = code;
    this.detail = detail;
  }

  get isUnauthorized(): boolean {
    return this.status === 401;
  }
}

/** A network failure (no answer at all): the service is down or unreachable. */
export class NetworkError extends Error {
  constructor(message = "Cannot reach the server. Check your connection and try again.") {
    super(message);
    this.name = "NetworkError";
  }
}

/** A response body as JSON, or null when it is empty or not JSON (an error page from a proxy, say). */
export function parseJsonBody(text: string): unknown {
  if (!text) return null;
  try {
    return JSON.parse(text) as unknown;
  } catch {
    return null;
  }
}

/** An ApiError from the text of an error response. */
export function apiErrorFromText(status: number, text: string): ApiError {
  return apiErrorFrom(status, parseJsonBody(text), text);
}

/** Builds an ApiError from a response body in the contract's shape `{"error": {code, message, detail}}`. */
export function apiErrorFrom(status: number, body: unknown, fallbackText = ""): ApiError {
  if (body && typeof body === "object" && "error" in body) {
    const { error } = body;
    if (error && typeof error === "object") {
      const { code, message, detail } = error as { code?: unknown; message?: unknown; detail?: unknown };
      return new ApiError(
        status,
        typeof code === "string" ? code : "http_error",
        typeof message === "string" && message ? message : defaultMessage(status),
        detail,
      );
    }
  }
  const text = fallbackText.trim();
  return new ApiError(status, "http_error", text && text.length < 300 ? text : defaultMessage(status));
}

export function defaultMessage(status: number): string {
  if (status === 401) return "Your sign-in has expired. Please sign in again.";
  if (status === 403) return "You are not allowed to do this.";
  if (status === 404) return "Not found.";
  if (status === 409) return "That cannot be done in the model's current state.";
  if (status === 413) return "The file is too large.";
  if (status >= 500) return "Something went wrong on the server. Please try again.";
  return `Request failed (HTTP ${status}).`;
}

export function errorMessage(error: unknown): string {
  if (error instanceof Error) return error.message;
  return String(error);
}
