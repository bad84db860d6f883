/** What the page reads from a JWT (for display and a first check only: the services verify it). */

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
    return claims && typeof claims === "object" ? claims : null;
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
