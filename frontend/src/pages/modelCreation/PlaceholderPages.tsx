import { hrefFor } from "../../hooks/useHashRoute";

/** The model is gone (never existed, deleted elsewhere, or another user's). */
export function ModelNotFound({ reason }: { reason: string }) {
  return (
    <main id="main" tabIndex={-1} className="page">
      <h1 className="page-title">Model not found</h1>
      <p className="notice" role="alert">
        {reason}
      </p>
      <p>
        <a className="button" href={hrefFor({ name: "models" })}>
          Back to my models
        </a>
      </p>
    </main>
  );
}

/** `#/new` while the operator has switched creation off (the notice above says why). */
export function CreationOff() {
  return (
    <main id="main" tabIndex={-1} className="page">
      <h1 className="page-title">New model</h1>
      <p>New models cannot be created at the moment.</p>
      <p>
        <a className="button" href={hrefFor({ name: "models" })}>
          Back to my models
        </a>
      </p>
    </main>
  );
}
