/**
 * The signed-in user's token: kept in memory and in sessionStorage (so a reload keeps the session, a
 * closed tab forgets it). It only ever travels in the Authorization header, never in a URL or a log.
 */
import { useCallback, useMemo, useRef, useState, type ReactNode } from "react";
import { AuthContext, type AuthState } from "./context";
import { decodeToken } from "./tokens";

const TOKEN_STORAGE_KEY = "photo3d.token";

function readStoredToken(): string | null {
  try {
    return sessionStorage.getItem(TOKEN_STORAGE_KEY);
  } catch {
    return null;
  }
}

export function AuthProvider({ children }: { children: ReactNode }) {
  const [token, setToken] = useState<string | null>(readStoredToken);
  const [notice, setNotice] = useState<string | null>(null);
  // what getToken answers: set together with the state, so a request made right after signing in has it
  const current = useRef(token);

  const signIn = useCallback((next: string) => {
    const clean = next.trim().replace(/^Bearer\s+/i, "");
    try {
      sessionStorage.setItem(TOKEN_STORAGE_KEY, clean);
    } catch {
      // private mode: memory only
    }
    current.current = clean;
    setNotice(null);
    setToken(clean);
  }, []);

  const signOut = useCallback((why?: string) => {
    try {
      sessionStorage.removeItem(TOKEN_STORAGE_KEY);
    } catch {
      // nothing stored
    }
    current.current = null;
    setNotice(why ?? null);
    setToken(null);
  }, []);

  const getToken = useCallback(() => current.current, []);

  const value = useMemo<AuthState>(
    () => ({ token, claims: token ? decodeToken(token) : null, getToken, notice, signIn, signOut }),
    [token, getToken, notice, signIn, signOut],
  );
  return <AuthContext.Provider value={value}>{children}</AuthContext.Provider>;
}
