import { useEffect, useMemo, useState } from "react";
import { ApiClient, loadConfig } from "./api/client";
import { errorMessage } from "./api/errors";
import type { AppConfig } from "./api/types";
import { ApiProvider } from "./ApiProvider";
import { AuthProvider } from "./auth/AuthProvider";
import { useAuth } from "./auth/context";
import { displayName } from "./auth/tokens";
import { CreationNotice } from "./components/CreationNotice";
import { SignIn } from "./components/SignIn";
import { useCreation } from "./hooks/useCreation";
import { hrefFor, useHashRoute, type Route } from "./hooks/useHashRoute";
import { ModelCreationPage } from "./pages/ModelCreationPage";
import { MyModelsPage } from "./pages/MyModelsPage";

function Shell({ config }: { config: AppConfig }) {
  const auth = useAuth();
  const { getToken, signOut } = auth;

  const api = useMemo(
    () =>
      new ApiClient({
        config,
        getToken,
        onUnauthorized: () => signOut("Your sign-in has expired or is not accepted. Please sign in again."),
      }),
    [config, getToken, signOut],
  );
  const { route, visit } = useHashRoute();

  useEffect(() => {
    const titles = { models: "My models", new: "New model", model: "Model" } as const;
    document.title = `${titles[route.name]} · photo3d`;
  }, [route.name]);

  // after an in-page navigation, start keyboard and screen-reader users at the new page's content
  useEffect(() => {
    if (visit > 0) document.getElementById("main")?.focus();
  }, [visit]);

  return (
    <ApiProvider api={api}>
      <a
        className="skip-link"
        href="#main"
        onClick={(event) => {
          // hash routes: move focus without touching the address
          event.preventDefault();
          document.getElementById("main")?.focus();
        }}
      >
        Skip to content
      </a>
      <header className="topbar">
        <a className="topbar__brand" href={hrefFor({ name: "models" })}>
          photo3d
        </a>
        {auth.token ? <MainNav route={route.name} /> : null}
      </header>
      <CreationNotice />
      {!auth.token ? (
        <SignIn />
      ) : route.name === "models" ? (
        <MyModelsPage key={`models-${visit}`} />
      ) : route.name === "new" ? (
        <ModelCreationPage key={`new-${visit}`} />
      ) : (
        <ModelCreationPage key={`model-${route.id}-${visit}`} modelId={route.id} />
      )}
    </ApiProvider>
  );
}

function MainNav({ route }: { route: Route["name"] }) {
  const auth = useAuth();
  const creation = useCreation();
  return (
    <nav className="topbar__nav" aria-label="Main">
      <a href={hrefFor({ name: "models" })} aria-current={route === "models" ? "page" : undefined}>
        My models
      </a>
      {creation.enabled ? (
        <a href={hrefFor({ name: "new" })} aria-current={route === "new" ? "page" : undefined}>
          New model
        </a>
      ) : null}
      <span className="topbar__user" title="Signed in">
        {displayName(auth.claims)}
      </span>
      <button type="button" className="button button--small button--ghost" onClick={() => auth.signOut()}>
        Sign out
      </button>
    </nav>
  );
}

/** Loads /config.json (hosts of the services), then shows the app. */
export function App() {
  const [config, setConfig] = useState<AppConfig | null>(null);
  const [error, setError] = useState<string | null>(null);

  useEffect(() => {
    loadConfig()
      .then(setConfig)
      .catch((failure: unknown) => setError(errorMessage(failure)));
  }, []);

  if (error) {
    return (
      <main id="main" tabIndex={-1} className="page">
        <h1 className="page-title">photo3d is not available</h1>
        <p className="notice" role="alert">
          {error} Make sure the status service is running, then reload.
        </p>
      </main>
    );
  }
  if (!config) {
    return (
      <main id="main" tabIndex={-1} className="page">
        <p className="muted" role="status">
          Loading…
        </p>
      </main>
    );
  }
  return (
    <AuthProvider>
      <Shell config={config} />
    </AuthProvider>
  );
}
