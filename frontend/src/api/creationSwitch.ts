/**
 * Whether users may create models right now: the operator's switch (`creationEnabled`, `creationNotice`
 * in /config.json, read at start). An upload or re-run answered 503 `creation_disabled` turns it off
 * at once, with the service's notice, so a switch flipped while the page is open shows without a reload.
 */
import type { ApiError } from "./errors";
import type { AppConfig } from "./types";

export interface CreationState {
  enabled: boolean;
  /** What to tell users while creation is off (null: the page's own words). */
  notice: string | null;
}

export const DEFAULT_CREATION_NOTICE =
  "Creating new models is switched off for the moment. Your existing models are still here to view and download.";

export class CreationSwitch {
  private state: CreationState;
  private readonly listeners = new Set<() => void>();

  constructor(config: Pick<AppConfig, "creationEnabled" | "creationNotice">) {
    this.state = { enabled: config.creationEnabled !== false, notice: config.creationNotice ?? null };
  }

  /** For useSyncExternalStore: the same object until the state changes. */
  readonly current = (): CreationState => this.state;

  readonly subscribe = (listener: () => void): (() => void) => {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  };

  /** Turns creation off when a service says it is off. */
  noteError(error: ApiError): void {
    if (error.status !== 503 || error.code !== "creation_disabled" || !this.state.enabled) return;
    this.state = { enabled: false, notice: error.message || null };
    for (const listener of this.listeners) listener();
  }
}
