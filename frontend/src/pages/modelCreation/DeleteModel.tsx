import { useState } from "react";
import { errorMessage } from "../../api/errors";

export interface DeleteModelProps {
  /** Deletes the model; the page navigates away when it resolves. */
  onDelete: () => Promise<void>;
}

/** "Delete model", asked twice; the server's reason shows when it refuses. */
export function DeleteModel({ onDelete }: DeleteModelProps) {
  const [confirming, setConfirming] = useState(false);
  const [deleting, setDeleting] = useState(false);
  const [error, setError] = useState<string | null>(null);

  const remove = async () => {
    setDeleting(true);
    try {
      await onDelete();
    } catch (failure) {
      setDeleting(false);
      setConfirming(false);
      setError(`Could not delete the model: ${errorMessage(failure)}`);
    }
  };

  return (
    <div className="danger-zone">
      {confirming ? (
        <div role="group" aria-label="Confirm deletion" className="confirm">
          <p>Delete this model, its photos and its files?</p>
          <button type="button" className="button button--danger" disabled={deleting} onClick={() => void remove()}>
            {deleting ? "Deleting…" : "Yes, delete"}
          </button>
          <button type="button" className="button" onClick={() => setConfirming(false)} autoFocus>
            Keep it
          </button>
        </div>
      ) : (
        <button type="button" className="button button--ghost" onClick={() => setConfirming(true)}>
          Delete model
        </button>
      )}
      {error ? (
        <p className="field__error" role="alert">
          {error}
        </p>
      ) : null}
    </div>
  );
}
