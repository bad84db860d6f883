/**
 * The signed-in user's token: kept in memory and in sessionStorage (so a reload keeps the session, a
 * closed tab forgets it). It only ever travels in the Authorization header, never in a URL or a log.
 */
import { createContext, useCallback, useContext, useMemo, useState, type ReactNode } from "react";

const STORAGE_KEY = "photo3d.token";

export interface TokenClaims {
  sub?: string;
  exp?: number;
  name?: string;
  preferred_username?: string;
  email?: string;
}

function base64UrlDecode(part: string): string {
  const base64 = part.replace(/-/g, "+").replace(/_/g, "/").padEnd(Math.ceil(part.length / 4) * 4, "=");
  const binary = atob(base64);
  const bytes = Uint8Array.from(binary, (c) => c.charCodeAt(0));
  return new TextDecoder().decode(bytes);
}

/** Reads a JWT's claims for display only; the services verify the signature. */
export function decodeToken(token: string): TokenClaims | null {
  const parts = token.split(".");
  if (parts.length !== 3 || !parts[1]) return null;
  try {
    const claims = JSON.parse(base64UrlDecode(parts[1])) as unknown;
    return claims && typeof claims === "object" ? (claims as TokenClaims) : null;
  } catch {
    return null;
  }
}

/** Why a pasted token cannot be used, or null when it looks usable. */
export function tokenProblem(token: string, nowSeconds = Date.now() / 1000): string | null {
  const trimmed = token.trim();
  if (!trimmed) return "Paste a token first.";
  if (/\s/.test(trimmed)) return "A token has no spaces or line breaks. Paste only the token itself.";
  const claims = decodeToken(trimmed.replace(/^Bearer\s+/i, ""));
  if (!claims) return "This is not a JSON Web Token (expected three parts separated by dots).";
  if (typeof claims.exp === "number" && claims.exp <= nowSeconds) return "This token has expired.";
  if (!claims.sub) return "This token has no subject (sub), so it cannot own models.";
  return null;
}

export function displayName(claims: TokenClaims | null): string {
  return claims?.preferred_username ?? claims?.name ?? claims?.email ?? claims?.sub ?? "signed-in user";
}

function readStoredToken(): string | null {
  try {
    return sessionStorage.getItem(STORAGE_KEY);
  } catch {
    return null;
  }
}

export interface AuthState {
  token: string | null;
  claims: TokenClaims | null;
  /** Why the user was signed out (e.g. an expired token), shown on the sign-in form. */
  notice: string | null;
  signIn: (token: string) => void;
  signOut: (notice?: string) => void;
}

const AuthContext = createContext<AuthState | null>(null);

export function AuthProvider({ children }: { children: ReactNode }) {
  const [token, setToken] = useState<string | null>(readStoredToken);
  const [notice, setNotice] = useState<string | null>(null);

  const signIn = useCallback((next: string) => {
    const clean = next.trim().replace(/^Bearer\s+/i, "");
    try {
      sessionStorage.setItem(STORAGE_KEY, clean);
    } catch {
      // private mode: memory only
    }
    setNotice(null);
    setToken(clean);
  }, []);

  const signOut = useCallback((why?: string) => {
    try {
      sessionStorage.removeItem(STORAGE_KEY);
    } catch {
      // nothing stored
    }
    setNotice(why ?? null);
    setToken(null);
  }, []);

  const value = useMemo<AuthState>(
    () => ({ token, claims: token ? decodeToken(token) : null, notice, signIn, signOut }),
    [token, notice, signIn, signOut],
  );
  return <AuthContext.Provider value={value}>{children}</AuthContext.Provider>;
}

export function useAuth(): AuthState {
  const value = useContext(AuthContext);
  if (!value) throw new Error("useAuth outside AuthProvider");
  return value;
}
