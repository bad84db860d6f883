import { createContext, useContext } from "react";
import type { TokenClaims } from "./tokens";

export interface AuthState {
  token: string | null;
  claims: TokenClaims | null;
  /** The current token, for code outside rendering (the API client); stable across renders. */
  getToken: () => string | null;
  /** Why the user was signed out (e.g. an expired token), shown on the sign-in form. */
  notice: string | null;
  signIn: (token: string) => void;
  signOut: (notice?: string) => void;
}

export const AuthContext = createContext<AuthState | null>(null);

export function useAuth(): AuthState {
  const value = useContext(AuthContext);
  if (!value) throw new Error("useAuth outside AuthProvider");
  return value;
}
