import type { ReactNode } from "react";
import type { Model } from "../api/types";
import { describeStages, retryActionFor, STATUS_LABELS, type RetryAction, type StageView } from "../status";

export interface StageProgressProps {
  model: Model;
  /** Runs the re-run request; resolves when the server accepted it (202). */
  onRetry: (action: RetryAction) => void;
  retrying?: boolean;
  /** The server's answer to the last re-run request, e.g. a 409 reason. */
  retryError?: string | null;
  /** false while model creation is switched off: a failure shows its reason, but no re-run. */
  canRetry?: boolean;
  /** Options for a generation re-run, shown under its button. */
  generationOptions?: ReactNode;
}

const STATE_TEXT: Record<StageView["state"], string> = {
  pending: "Not started",
  queued: "Waiting",
  active: "In progress",
  done: "Done",
  failed: "Failed",
};

const RETRY_LABEL: Record<RetryAction, string> = {
  "remove-background": "Re-run background removal",
  "generate-model": "Re-run 3D generation",
};

function StageIcon({ state, index }: { state: StageView["state"]; index: number }) {
  const glyph = state === "done" ? "✓" : state === "failed" ? "!" : String(index + 1);
  return (
    <span className={`stage__icon stage__icon--${state}`} aria-hidden="true">
      {glyph}
    </span>
  );
}

/** The stages of the plan with their progress; a failed stage shows its reason and a re-run button. */
export function StageProgress({
  model,
  onRetry,
  retrying = false,
  retryError = null,
  canRetry = true,
  generationOptions = null,
}: StageProgressProps) {
  const stages = describeStages(model);
  const retryAction = canRetry ? retryActionFor(model) : null;
  const current = stages.find((stage) => stage.state === "active" || stage.state === "queued" || stage.state === "failed");

  // announced on status changes only: progress ticks would make a screen reader talk non-stop
  const announcement =
    model.status === "failed" && model.error_message
      ? `${STATUS_LABELS.failed}: ${model.error_message}`
      : STATUS_LABELS[model.status];

  return (
    <section className="stages" aria-labelledby="stages-title">
      <h2 id="stages-title" className="section-title">
        Progress
      </h2>
      {/* one short, polite announcement per status change; the list below holds the details */}
      <p className="visually-hidden" aria-live="polite" aria-atomic="true">
        Status: {announcement}
      </p>
      <ol className="stages__list">
        {stages.map((stage, index) => (
          <li
            key={stage.id}
            className={`stage stage--${stage.state}`}
            aria-current={stage === current ? "step" : undefined}
            data-stage={stage.id}
          >
            <StageIcon state={stage.state} index={index} />
            <div className="stage__body">
              <div className="stage__heading">
                <span className="stage__label">{stage.label}</span>
                <span className="stage__state">{STATE_TEXT[stage.state]}</span>
              </div>
              <div className="stage__meter">
                <progress
                  className="stage__progress"
                  max={100}
                  value={stage.progress === null ? undefined : Math.round(stage.progress * 100)}
                  aria-label={`${stage.label} progress`}
                  hidden={!(stage.state === "active" || stage.state === "queued")}
                />
              </div>
              <p className={`stage__detail${stage.state === "failed" ? " stage__detail--error" : ""}`}>
                {stage.detail ?? ""}
              </p>
              {stage.state === "failed" && canRetry ? (
                <div className="stage__failure" role="alert">
                  {model.error_retryable === false ? (
                    <p className="stage__hint">Fix the cause above (for example, replace the photo), then re-run.</p>
                  ) : null}
                  {retryAction ? (
                    <div className="stage__retry">
                      <button
                        type="button"
                        className="button button--primary"
                        disabled={retrying}
                        onClick={() => onRetry(retryAction)}
                      >
                        {retrying ? "Starting…" : RETRY_LABEL[retryAction]}
                      </button>
                      {retryAction === "generate-model" ? (
                        <button
                          type="button"
                          className="button"
                          disabled={retrying}
                          onClick={() => onRetry("remove-background")}
                        >
                          Start over from background removal
                        </button>
                      ) : null}
                    </div>
                  ) : null}
                  {retryAction === "generate-model" ? generationOptions : null}
                  {retryAction ? null : (
                    <p className="stage__hint">Add the missing photos above; a re-run button appears once all four are in.</p>
                  )}
                  {retryError ? <p className="stage__detail stage__detail--error">{retryError}</p> : null}
                </div>
              ) : null}
            </div>
          </li>
        ))}
      </ol>
    </section>
  );
}
