import { useCallback, useEffect, useMemo, useReducer, useRef, useState } from "react";
import { useApi } from "../apiContext";
import type { UploadHandle } from "../api/client";
import { errorMessage } from "../api/errors";
import { VIEWS, type View } from "../api/types";
import { ModelResult } from "../components/ModelResult";
import { StageProgress } from "../components/StageProgress";
import { useCreation } from "../hooks/useCreation";
import { hrefFor, replaceRoute } from "../hooks/useHashRoute";
import { useLiveModel } from "../hooks/useLiveModel";
import { checkOptions, DEFAULT_OPTIONS_FORM, type OptionsForm } from "../modelOptions";
import { canReplacePhotos, type RetryAction } from "../status";
import { checkPhoto, DEFAULT_ACCEPTED_TYPES, DEFAULT_MAX_UPLOAD_BYTES, type PhotoRules } from "../validation";
import { AdvancedOptions } from "./modelCreation/AdvancedOptions";
import { DeleteModel } from "./modelCreation/DeleteModel";
import { ModelHeader } from "./modelCreation/ModelHeader";
import { CreationOff, ModelNotFound } from "./modelCreation/PlaceholderPages";
import { NewModelIntro } from "./modelCreation/NewModelIntro";
import { PhotoSlot } from "./modelCreation/PhotoSlot";
import { emptySlots, photoSlotsReducer } from "./modelCreation/photoSlots";
import { ModelOptionsSummary } from "./modelCreation/ModelOptionsSummary";

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
  const { model, liveMode, loadError, adopt } = useLiveModel(modelId);
  const creation = useCreation();
  const [name, setName] = useState("");
  const [optionsForm, setOptionsForm] = useState(DEFAULT_OPTIONS_FORM);
  const options = useMemo(() => checkOptions(optionsForm), [optionsForm]);
  const [createError, setCreateError] = useState<string | null>(null);
  const [slots, dispatch] = useReducer(photoSlotsReducer, undefined, emptySlots);
  // a generation re-run may change the options for that run; what is left as it is keeps the model's
  const modelTexture = model?.options.texture ?? true;
  const rerunDefaults = useMemo(() => ({ ...DEFAULT_OPTIONS_FORM, texture: modelTexture }), [modelTexture]);
  const [rerunChoice, setRerunForm] = useState<OptionsForm | null>(null);
  const rerunForm = rerunChoice ?? rerunDefaults;
  const rerunOptions = useMemo(() => checkOptions(rerunForm, rerunDefaults), [rerunForm, rerunDefaults]);
  const [retrying, setRetrying] = useState(false);
  const [retryError, setRetryError] = useState<string | null>(null);

  const uploads = useRef<Partial<Record<View, UploadHandle>>>({});
  const creating = useRef<Promise<string> | null>(null);
  const localUrls = useRef<Set<string>>(new Set());

  // Object URLs of picked files live as long as the page; uploads end with it.
  useEffect(() => {
    const urls = localUrls.current;
    const handles = uploads.current;
    return () => {
      for (const url of urls) URL.revokeObjectURL(url);
      for (const handle of Object.values(handles)) handle?.abort();
    };
  }, []);

  // On a status change: a re-run is "in flight" until the status leaves `failed`, and the slots learn
  // whether background removal ran again. (State adjusted while rendering, not in an effect.)
  const status = model?.status;
  const [seenStatus, setSeenStatus] = useState(status);
  if (status !== seenStatus) {
    setSeenStatus(status);
    if (status !== "failed") setRetrying(false);
    if (status) dispatch({ type: "statusChanged", status });
  }

  const ensureModel = useCallback((): Promise<string> => {
    if (modelId) return Promise.resolve(modelId);
    const optionsProblem = options.errors.size ?? options.errors.faces;
    if (optionsProblem) return Promise.reject(new Error(`check the advanced options (${optionsProblem})`));
    creating.current ??= api
      .createModel({ ...(name.trim() ? { name: name.trim() } : {}), ...options.input })
      .then((created) => {
        adopt(created);
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
  }, [api, adopt, modelId, name, options]);

  const onFile = useCallback(
    async (view: View, file: File) => {
      const problem = checkPhoto(file, rules);
      if (problem) {
        dispatch({ type: "refused", view, error: problem });
        return;
      }
      const localUrl = URL.createObjectURL(file);
      localUrls.current.add(localUrl);
      dispatch({ type: "picked", view, localUrl });

      let id: string;
      try {
        id = await ensureModel();
      } catch (error) {
        const message = `Could not create the model: ${errorMessage(error)}`;
        setCreateError(message);
        dispatch({ type: "failed", view, error: message });
        return;
      }
      const handle = api.uploadPhoto(id, view, file, (fraction) => dispatch({ type: "progressed", view, fraction }));
      uploads.current[view] = handle;
      try {
        await handle.promise;
        dispatch({ type: "stored", view });
      } catch (error) {
        const cancelled = error instanceof DOMException && error.name === "AbortError";
        dispatch({ type: "failed", view, error: cancelled ? "Upload cancelled." : errorMessage(error) });
      } finally {
        if (uploads.current[view] === handle) delete uploads.current[view];
      }
    },
    [api, ensureModel, rules],
  );

  const onCancel = useCallback((view: View) => uploads.current[view]?.abort(), []);

  const onRetry = useCallback(
    async (action: RetryAction) => {
      if (!model) return;
      const optionsProblem = rerunOptions.errors.size ?? rerunOptions.errors.faces;
      if (action === "generate-model" && optionsProblem) {
        setRetryError(`Check the options for this run: ${optionsProblem}`);
        return;
      }
      setRetrying(true);
      setRetryError(null);
      try {
        if (action === "remove-background") await api.removeBackground(model.id);
        else await api.generateModel(model.id, model.provider, rerunOptions.input);
      } catch (error) {
        setRetrying(false);
        setRetryError(errorMessage(error));
      }
    },
    [api, model, rerunOptions],
  );

  const onDelete = async () => {
    if (!model) return;
    for (const handle of Object.values(uploads.current)) handle?.abort();
    await api.deleteModel(model.id);
    window.location.hash = hrefFor({ name: "models" });
  };

  if (loadError) return <ModelNotFound reason={loadError} />;
  if (!modelId && !creation.enabled) return <CreationOff />;

  const photosLocked = model ? !canReplacePhotos(model.status) : false;

  return (
    <main id="main" tabIndex={-1} className="page model-page">
      <ModelHeader model={model} following={Boolean(modelId)} liveMode={liveMode} />

      {!modelId ? (
        <NewModelIntro
          name={name}
          onNameChange={setName}
          options={optionsForm}
          optionsErrors={options.errors}
          onOptionsChange={setOptionsForm}
          createError={createError}
        />
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
                readOnly={!creation.enabled}
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
              canRetry={creation.enabled}
              generationOptions={
                <AdvancedOptions
                  form={rerunForm}
                  errors={rerunOptions.errors}
                  onChange={setRerunForm}
                  title="Change options for this run"
                  emptyMeans="as the model was made"
                  defaults={rerunDefaults}
                  facesPlaceholder={model.options.target_faces.toLocaleString()}
                />
              }
            />
          ) : (
            <section className="stages stages--placeholder" aria-label="Progress">
              <h2 className="section-title">Progress</h2>
              <p className="muted">Add a photo to create the model and start uploading.</p>
            </section>
          )}
          {model ? <ModelOptionsSummary options={model.options} /> : null}
          {model ? <DeleteModel onDelete={onDelete} /> : null}
        </aside>
      </div>
    </main>
  );
}
