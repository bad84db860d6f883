import type { Model } from "../../api/types";
import type { LiveMode } from "../../api/watch";
import { STATUS_LABELS } from "../../status";

const LIVE_TEXT: Record<LiveMode, string> = {
  connecting: "Connecting…",
  live: "Live",
  reconnecting: "Reconnecting…",
  polling: "Live updates interrupted; checking every few seconds",
  closed: "",
};

export interface ModelHeaderProps {
  model: Model | null;
  /** Whether there is a model to follow yet (before the first photo there is none). */
  following: boolean;
  liveMode: LiveMode;
}

/** The model's name and status, and whether the page is following it live. */
export function ModelHeader({ model, following, liveMode }: ModelHeaderProps) {
  const title = model ? model.name?.trim() || "Untitled model" : "New model";
  return (
    <header className="model-page__header">
      <div className="model-page__title-row">
        <h1 className="page-title">{title}</h1>
        {model ? <span className={`badge badge--${model.status}`}>{STATUS_LABELS[model.status]}</span> : null}
      </div>
      <p className="live-indicator" aria-hidden={!following}>
        {following ? (
          <>
            <span className={`live-dot live-dot--${liveMode}`} aria-hidden="true" />
            {model?.status === "completed" ? "Finished" : LIVE_TEXT[liveMode]}
          </>
        ) : (
          "\u00a0"
        )}
      </p>
    </header>
  );
}
