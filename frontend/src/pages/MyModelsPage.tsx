import { useCallback, useEffect, useRef, useState } from "react";
import { useApi } from "../apiContext";
import { errorMessage } from "../api/errors";
import type { Model } from "../api/types";
import { hrefFor } from "../hooks/useHashRoute";
import { useCreation } from "../hooks/useCreation";
import { useModelFile } from "../hooks/useModelFile";
import { previewKey } from "../modelPreview";
import { STATUS_LABELS } from "../status";

const PAGE_SIZE = 20;
const REFRESH_MS = 5000;

function isSettled(model: Model): boolean {
  return model.status === "completed" || model.status === "failed" || model.status === "draft";
}

const dateFormat = new Intl.DateTimeFormat(undefined, { dateStyle: "medium", timeStyle: "short" });

function ModelCard({ model, onDeleted }: { model: Model; onDeleted: (id: string) => void }) {
  const api = useApi();
  const preview = useModelFile(model.id, previewKey(model));
  const [confirming, setConfirming] = useState(false);
  const [deleting, setDeleting] = useState(false);
  const [error, setError] = useState<string | null>(null);
  const title = model.name?.trim() || "Untitled model";
  const headingId = `model-${model.id}`;

  const remove = async () => {
    setDeleting(true);
    setError(null);
    try {
      await api.deleteModel(model.id);
      onDeleted(model.id);
    } catch (failure) {
      setDeleting(false);
      setConfirming(false);
      setError(errorMessage(failure));
    }
  };

  return (
    <li className="model-card" aria-labelledby={headingId}>
      <div className="model-card__thumb">
        {preview.url ? <img src={preview.url} alt="" /> : <span className="model-card__no-thumb" aria-hidden="true">◻</span>}
      </div>
      <div className="model-card__body">
        <h2 id={headingId} className="model-card__title">
          <a href={hrefFor({ name: "model", id: model.id })}>{title}</a>
        </h2>
        <p className="model-card__meta">
          <span className={`badge badge--${model.status}`}>{STATUS_LABELS[model.status]}</span>
          <time dateTime={model.created_at}>{dateFormat.format(new Date(model.created_at))}</time>
        </p>
        <p className="model-card__error">{model.status === "failed" ? (model.error_message ?? "") : ""}</p>
        <div className="model-card__actions">
          <a className="button button--small" href={hrefFor({ name: "model", id: model.id })} aria-label={`Open ${title}`}>
            Open
          </a>
          {confirming ? (
            <>
              <button type="button" className="button button--small button--danger" disabled={deleting} onClick={() => void remove()}>
                {deleting ? "Deleting…" : `Yes, delete`}
              </button>
              <button type="button" className="button button--small" onClick={() => setConfirming(false)} autoFocus>
                Keep
              </button>
            </>
          ) : (
            <button type="button" className="button button--small button--ghost" onClick={() => setConfirming(true)} aria-label={`Delete ${title}`}>
              Delete
            </button>
          )}
        </div>
        {error ? (
          <p className="field__error" role="alert">
            {error}
          </p>
        ) : null}
      </div>
    </li>
  );
}

/** The signed-in user's models, newest first. */
export function MyModelsPage() {
  const api = useApi();
  const creation = useCreation();
  const [models, setModels] = useState<Model[] | null>(null);
  const [total, setTotal] = useState(0);
  const [error, setError] = useState<string | null>(null);
  const [loadingMore, setLoadingMore] = useState(false);
  const shown = useRef(PAGE_SIZE);

  const refresh = useCallback(
    async (signal?: AbortSignal) => {
      try {
        const page = await api.listModels(shown.current, 0, signal);
        setModels(page.items);
        setTotal(page.total);
        setError(null);
      } catch (failure) {
        if (!signal?.aborted) setError(errorMessage(failure));
      }
    },
    [api],
  );

  useEffect(() => {
    const controller = new AbortController();
    void refresh(controller.signal);
    return () => controller.abort();
  }, [refresh]);

  // While any model is still being processed, keep the list's statuses fresh.
  const busy = models?.some((model) => !isSettled(model)) ?? false;
  useEffect(() => {
    if (!busy) return;
    const controller = new AbortController();
    const timer = setInterval(() => void refresh(controller.signal), REFRESH_MS);
    return () => {
      clearInterval(timer);
      controller.abort();
    };
  }, [busy, refresh]);

  const loadMore = async () => {
    if (!models) return;
    setLoadingMore(true);
    try {
      const page = await api.listModels(PAGE_SIZE, models.length);
      const known = new Set(models.map((model) => model.id));
      setModels([...models, ...page.items.filter((model) => !known.has(model.id))]);
      setTotal(page.total);
      shown.current = models.length + page.items.length;
    } catch (failure) {
      setError(errorMessage(failure));
    } finally {
      setLoadingMore(false);
    }
  };

  const onDeleted = (id: string) => {
    setModels((current) => current?.filter((model) => model.id !== id) ?? null);
    setTotal((value) => Math.max(0, value - 1));
  };

  return (
    <main id="main" tabIndex={-1} className="page">
      <div className="page__title-row">
        <h1 className="page-title">My models</h1>
        {creation.enabled ? (
          <a className="button button--primary" href={hrefFor({ name: "new" })}>
            New model
          </a>
        ) : null}
      </div>
      {error ? (
        <p className="notice" role="alert">
          Could not load your models: {error}{" "}
          <button type="button" className="button button--small" onClick={() => void refresh()}>
            Try again
          </button>
        </p>
      ) : null}
      {models === null && !error ? (
        <p className="muted" role="status">
          Loading your models…
        </p>
      ) : null}
      {models?.length === 0 ? (
        <div className="empty-state">
          <p>You have no models yet.</p>
          {creation.enabled ? (
            <a className="button button--primary" href={hrefFor({ name: "new" })}>
              Create your first model
            </a>
          ) : null}
        </div>
      ) : null}
      {models && models.length > 0 ? (
        <>
          <ul className="model-list" aria-label="Your models, newest first">
            {models.map((model) => (
              <ModelCard key={model.id} model={model} onDeleted={onDeleted} />
            ))}
          </ul>
          {models.length < total ? (
            <p className="model-list__more">
              <button type="button" className="button" disabled={loadingMore} onClick={() => void loadMore()}>
                {loadingMore ? "Loading…" : `Show more (${total - models.length} left)`}
              </button>
            </p>
          ) : null}
        </>
      ) : null}
    </main>
  );
}
