import { useCallback, useEffect, useMemo, useRef, useState } from "react";
import { useApi } from "../apiContext";
import type { UploadHandle } from "../api/client";
import { ApiError, errorMessage } from "../api/errors";
import { VIEWS, type Model, type View } from "../api/types";
import { watchModel, type LiveMode } from "../api/watch";
import { PhotoPreview } from "../components/PhotoPreview";
import { ModelResult } from "../components/ModelResult";
import { StageProgress } from "../components/StageProgress";
import { hrefFor, replaceRoute } from "../hooks/useHashRoute";
import { useModelFile } from "../hooks/useModelFile";
import { canReplacePhotos, STATUS_LABELS, type RetryAction } from "../status";
import { checkPhoto, DEFAULT_ACCEPTED_TYPES, DEFAULT_MAX_UPLOAD_BYTES, type PhotoRules } from "../validation";

export const VIEW_LABELS: Record<View, { label: string; hint: string }> = {
  front: { label: "Front", hint: "Face the object head-on" },
  left: { label: "Left", hint: "Its left side" },
  right: { label: "Right", hint: "Its right side" },
  back: { label: "Back", hint: "From behind" },
};

interface SlotState {
  /** Object URL of the file the user picked, shown at once. */
  localUrl: string | null;
  progress: number | null;
  error: string | null;
  /** The server stored this view during this visit. */
  stored: boolean;
  /** The photo was replaced after the last background removal: its old cut-out no longer applies. */
  cutoutStale: boolean;
}

const EMPTY_SLOT: SlotState = { localUrl: null, progress: null, error: null, stored: false, cutoutStale: false };

function emptySlots(): Record<View, SlotState> {
  return { front: { ...EMPTY_SLOT }, left: { ...EMPTY_SLOT }, right: { ...EMPTY_SLOT }, back: { ...EMPTY_SLOT } };
}

const LIVE_TEXT: Record<LiveMode, string> = {
  connecting: "Connecting…",
  live: "Live",
  reconnecting: "Reconnecting…",
  polling: "Live updates interrupted; checking every few seconds",
  closed: "",
};

/** Newer state wins: the stream and the polling fallback can briefly overlap. */
function newer(current: Model | null, next: Model): Model {
  if (!current || current.id !== next.id) return next;
  return Date.parse(next.updated_at) >= Date.parse(current.updated_at) ? next : current;
}

interface SlotProps {
  model: Model | null;
  view: View;
  slot: SlotState;
  rules: PhotoRules;
  disabled: boolean;
  onFile: (view: View, file: File) => void;
  onCancel: (view: View) => void;
}

/** One view's slot, wired to the server's stored photo and cut-out. */
function PhotoSlot({ model, view, slot, rules, disabled, onFile, onCancel }: SlotProps) {
  const modelId = model?.id ?? null;
  const originalKey = slot.localUrl ? null : (model?.photos?.[view] ?? null);
  const removing = model?.status === "removing_background" && (model.progress ?? 0) < 1;
  const cutoutKey = removing || slot.cutoutStale ? null : (model?.cutouts?.[view] ?? null);
  const original = useModelFile(modelId, originalKey);
  const cutout = useModelFile(modelId, cutoutKey);
  const { label, hint } = VIEW_LABELS[view];
  const fileError = slot.error ?? original.error ?? cutout.error;

  return (
    <PhotoPreview
      label={label}
      hint={hint}
      originalUrl={slot.localUrl ?? original.url}
      cutoutUrl={cutout.url}
      uploadProgress={slot.progress}
      error={fileError}
      uploaded={slot.stored || Boolean(model?.photos?.[view])}
      removingBackground={Boolean(model?.photos?.[view]) && removing}
      disabled={disabled}
      accept={rules.acceptedTypes.join(",")}
      onFileSelected={(file) => onFile(view, file)}
      onCancelUpload={() => onCancel(view)}
    />
  );
}

export interface ModelCreationPageProps {
  /** An existing model to show; without it, the page creates one when the first photo arrives. */
  modelId?: string | null;
}

/** Create a model, add its four photos, follow it through the stages and look at the result. */
export function ModelCreationPage({ modelId: initialId = null }: ModelCreationPageProps) {
  const api = useApi();
  const rules = useMemo<PhotoRules>(
    () => ({
      acceptedTypes: api.config.acceptedTypes?.length ? api.config.acceptedTypes : DEFAULT_ACCEPTED_TYPES,
      maxBytes: api.config.maxUploadBytes ?? DEFAULT_MAX_UPLOAD_BYTES,
    }),
    [api],
  );

  const [modelId, setModelId] = useState<string | null>(initialId);
  const [model, setModel] = useState<Model | null>(null);
  const [loadError, setLoadError] = useState<string | null>(null);
  const [name, setName] = useState("");
  const [createError, setCreateError] = useState<string | null>(null);
  const [slots, setSlots] = useState<Record<View, SlotState>>(emptySlots);
  const [liveMode, setLiveMode] = useState<LiveMode>("connecting");
  const [retrying, setRetrying] = useState(false);
  const [retryError, setRetryError] = useState<string | null>(null);
  const [deleting, setDeleting] = useState(false);
  const [confirmDelete, setConfirmDelete] = useState(false);
  const [deleteError, setDeleteError] = useState<string | null>(null);

  const uploads = useRef<Partial<Record<View, UploadHandle>>>({});
  const creating = useRef<Promise<string> | null>(null);
  const localUrls = useRef<Set<string>>(new Set());

  const updateSlot = useCallback((view: View, change: Partial<SlotState>) => {
    setSlots((current) => ({ ...current, [view]: { ...current[view], ...change } }));
  }, []);

  // Object URLs of picked files live as long as the page.
  useEffect(() => {
    const urls = localUrls.current;
    const handles = uploads.current;
    return () => {
      for (const url of urls) URL.revokeObjectURL(url);
      for (const handle of Object.values(handles)) handle?.abort();
    };
  }, []);

  // Live status.
  useEffect(() => {
    if (!modelId) return;
    let stopped = false;
    const controller = new AbortController();
    api
      .getModel(modelId, controller.signal)
      .then((fresh) => !stopped && setModel((current) => newer(current, fresh)))
      .catch((error: unknown) => {
        if (!stopped && error instanceof ApiError && error.status === 404) {
          setLoadError("This model does not exist (it may have been deleted).");
        }
      });
    const stop = watchModel(api, modelId, {
      onModel: (fresh) => {
        setModel((current) => newer(current, fresh));
        if (fresh.status === "completed") stop(); // terminal: nothing more will change
      },
      onMode: setLiveMode,
      onDeleted: () => setLoadError("This model was deleted."),
      onFatal: (error) => {
        if (error.status === 404) setLoadError("This model does not exist (it may have been deleted).");
      },
    });
    return () => {
      stopped = true;
      controller.abort();
      stop();
    };
  }, [api, modelId]);

  // A re-run is "in flight" until the status leaves `failed`.
  const status = model?.status;
  useEffect(() => {
    if (status !== "failed") setRetrying(false);
    if (status === "removing_background" || status === "generating_3d_model" || status === "completed") {
      // background removal ran again (polling may skip the status itself): cut-outs match the photos
      setSlots((current) => {
        if (!VIEWS.some((view) => current[view].cutoutStale)) return current;
        const next = { ...current };
        for (const view of VIEWS) next[view] = { ...next[view], cutoutStale: false };
        return next;
      });
    }
  }, [status]);

  const ensureModel = useCallback((): Promise<string> => {
    if (modelId) return Promise.resolve(modelId);
    creating.current ??= api
      .createModel(name.trim() ? { name: name.trim() } : {})
      .then((created) => {
        setModel(created);
        setModelId(created.id);
        setCreateError(null);
        replaceRoute({ name: "model", id: created.id });
        return created.id;
      })
      .catch((error: unknown) => {
        creating.current = null;
        throw error;
      });
    return creating.current;
  }, [api, modelId, name]);

  const onFile = useCallback(
    async (view: View, file: File) => {
      const problem = checkPhoto(file, rules);
      if (problem) {
        updateSlot(view, { error: problem });
        return;
      }
      const localUrl = URL.createObjectURL(file);
      localUrls.current.add(localUrl);
      updateSlot(view, { localUrl, error: null, progress: 0, stored: false });

      let id: string;
      try {
        id = await ensureModel();
      } catch (error) {
        const message = `Could not create the model: ${errorMessage(error)}`;
        setCreateError(message);
        updateSlot(view, { progress: null, error: message });
        return;
      }
      const handle = api.uploadPhoto(id, view, file, (fraction) => updateSlot(view, { progress: fraction }));
      uploads.current[view] = handle;
      try {
        await handle.promise;
        updateSlot(view, { progress: null, stored: true, cutoutStale: true, error: null });
      } catch (error) {
        const cancelled = error instanceof DOMException && error.name === "AbortError";
        updateSlot(view, { progress: null, error: cancelled ? "Upload cancelled." : errorMessage(error) });
      } finally {
        if (uploads.current[view] === handle) delete uploads.current[view];
      }
    },
    [api, ensureModel, rules, updateSlot],
  );

  const onCancel = useCallback((view: View) => uploads.current[view]?.abort(), []);

  const onRetry = useCallback(
    async (action: RetryAction) => {
      if (!model) return;
      setRetrying(true);
      setRetryError(null);
      try {
        if (action === "remove-background") await api.removeBackground(model.id);
        else await api.generateModel(model.id, model.provider);
      } catch (error) {
        setRetrying(false);
        setRetryError(errorMessage(error));
      }
    },
    [api, model],
  );

  const onDelete = async () => {
    if (!model) return;
    setDeleting(true);
    try {
      for (const handle of Object.values(uploads.current)) handle?.abort();
      await api.deleteModel(model.id);
      window.location.hash = hrefFor({ name: "models" });
    } catch (error) {
      setDeleting(false);
      setConfirmDelete(false);
      setDeleteError(`Could not delete the model: ${errorMessage(error)}`);
    }
  };

  if (loadError) {
    return (
      <main id="main" tabIndex={-1} className="page">
        <h1 className="page-title">Model not found</h1>
        <p className="notice" role="alert">
          {loadError}
        </p>
        <p>
          <a className="button" href={hrefFor({ name: "models" })}>
            Back to my models
          </a>
        </p>
      </main>
    );
  }

  const photosLocked = model ? !canReplacePhotos(model.status) : false;
  const title = model ? model.name?.trim() || "Untitled model" : "New model";

  return (
    <main id="main" tabIndex={-1} className="page model-page">
      <header className="model-page__header">
        <div className="model-page__title-row">
          <h1 className="page-title">{title}</h1>
          {model ? (
            <span className={`badge badge--${model.status}`}>{STATUS_LABELS[model.status]}</span>
          ) : null}
        </div>
        <p className="live-indicator" aria-hidden={!modelId}>
          {modelId ? (
            <>
              <span className={`live-dot live-dot--${liveMode}`} aria-hidden="true" />
              {model?.status === "completed" ? "Finished" : LIVE_TEXT[liveMode]}
            </>
          ) : (
            "\u00a0"
          )}
        </p>
      </header>

      {!modelId ? (
        <div className="model-page__intro">
          <p className="muted">
            Take four photos of one object — front, left, right and back — on a plain background with even light.
            Left and right are the object's own sides: facing its front, step to your right for its left side.
            Processing starts by itself once all four are uploaded.
          </p>
          <label className="field field--inline">
            <span className="field__label">Name (optional)</span>
            <input
              className="input"
              value={name}
              maxLength={200}
              onChange={(event) => setName(event.target.value)}
              placeholder="e.g. Blue teapot"
            />
          </label>
          {createError ? (
            <p className="field__error" role="alert">
              {createError}
            </p>
          ) : null}
        </div>
      ) : null}

      {model?.status === "completed" ? <ModelResult model={model} /> : null}

      <div className="model-page__layout">
        <section className="photos" aria-labelledby="photos-title">
          <h2 id="photos-title" className="section-title">
            Photos
          </h2>
          <div className="photos__grid">
            {VIEWS.map((view) => (
              <PhotoSlot
                key={view}
                model={model}
                view={view}
                slot={slots[view]}
                rules={rules}
                disabled={photosLocked}
                onFile={(v, file) => void onFile(v, file)}
                onCancel={onCancel}
              />
            ))}
          </div>
        </section>

        <aside className="model-page__side">
          {model ? (
            <StageProgress
              model={model}
              onRetry={(action) => void onRetry(action)}
              retrying={retrying}
              retryError={retryError}
            />
          ) : (
            <section className="stages stages--placeholder" aria-label="Progress">
              <h2 className="section-title">Progress</h2>
              <p className="muted">Add a photo to create the model and start uploading.</p>
            </section>
          )}
          {model ? (
            <div className="danger-zone">
              {confirmDelete ? (
                <div role="group" aria-label="Confirm deletion" className="confirm">
                  <p>Delete this model, its photos and its files?</p>
                  <button type="button" className="button button--danger" disabled={deleting} onClick={() => void onDelete()}>
                    {deleting ? "Deleting…" : "Yes, delete"}
                  </button>
                  <button type="button" className="button" onClick={() => setConfirmDelete(false)} autoFocus>
                    Keep it
                  </button>
                </div>
              ) : (
                <button type="button" className="button button--ghost" onClick={() => setConfirmDelete(true)}>
                  Delete model
                </button>
              )}
              {deleteError ? (
                <p className="field__error" role="alert">
                  {deleteError}
                </p>
              ) : null}
            </div>
          ) : null}
        </aside>
      </div>
    </main>
  );
}
