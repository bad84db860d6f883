import { useState, type FormEvent } from "react";
import { useApi } from "../apiContext";
import { ApiError, errorMessage } from "../api/errors";
import { useAuth } from "../auth/context";
import { tokenProblem } from "../auth/tokens";

/**
 * Local runs: a dev token from the status service (`POST /api/dev/token`). Production: paste a token
 * from your identity provider (any JWT issuer the services trust).
 */
export function SignIn() {
  const api = useApi();
  const { signIn, notice } = useAuth();
  const [user, setUser] = useState("");
  const [pasted, setPasted] = useState("");
  const [devError, setDevError] = useState<string | null>(null);
  const [tokenError, setTokenError] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);

  const onDevSignIn = async (event: FormEvent) => {
    event.preventDefault();
    const name = user.trim();
    if (!name) {
      setDevError("Enter a user name.");
      return;
    }
    setBusy(true);
    setDevError(null);
    try {
      signIn(await api.devToken(name));
    } catch (error) {
      if (error instanceof ApiError && (error.status === 404 || error.status === 403)) {
        setDevError("Dev sign-in is switched off on this server. Paste a token from your identity provider instead.");
      } else {
        setDevError(errorMessage(error));
      }
    } finally {
      setBusy(false);
    }
  };

  const onPaste = (event: FormEvent) => {
    event.preventDefault();
    const clean = pasted.trim().replace(/^Bearer\s+/i, "");
    const problem = tokenProblem(clean);
    if (problem) {
      setTokenError(problem);
      return;
    }
    setTokenError(null);
    signIn(clean);
  };

  return (
    <main id="main" tabIndex={-1} className="signin">
      <h1 className="page-title">Sign in to photo3d</h1>
      {notice ? (
        <p className="notice" role="alert">
          {notice}
        </p>
      ) : null}
      <div className="signin__options">
        <form className="card" onSubmit={(event) => void onDevSignIn(event)} noValidate>
          <h2 className="section-title">Local sign-in</h2>
          <p className="muted">For a local run (<code>make run</code>): the status service issues a development token.</p>
          <label className="field">
            <span className="field__label">User name</span>
            <input
              className="input"
              name="user"
              autoComplete="username"
              value={user}
              onChange={(event) => setUser(event.target.value)}
              aria-invalid={devError ? true : undefined}
              aria-describedby={devError ? "dev-error" : undefined}
            />
          </label>
          <p id="dev-error" className="field__error" role={devError ? "alert" : undefined}>
            {devError ?? ""}
          </p>
          <button type="submit" className="button button--primary" disabled={busy}>
            {busy ? "Signing in…" : "Sign in"}
          </button>
        </form>

        <form className="card" onSubmit={onPaste} noValidate>
          <h2 className="section-title">Sign in with a token</h2>
          <p className="muted">Paste an access token (JWT) from your identity provider. It stays in this tab only.</p>
          <label className="field">
            <span className="field__label">Access token</span>
            <textarea
              className="input input--token"
              name="token"
              rows={4}
              spellCheck={false}
              autoComplete="off"
              autoCapitalize="off"
              value={pasted}
              onChange={(event) => setPasted(event.target.value)}
              aria-invalid={tokenError ? true : undefined}
              aria-describedby={tokenError ? "token-error" : undefined}
            />
          </label>
          <p id="token-error" className="field__error" role={tokenError ? "alert" : undefined}>
            {tokenError ?? ""}
          </p>
          <button type="submit" className="button">
            Use this token
          </button>
        </form>
      </div>
    </main>
  );
}
