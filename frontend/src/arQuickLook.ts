/**
 * Apple's AR Quick Look opens a USDZ from a link with `rel="ar"`; only Safari on iOS and iPadOS
 * supports that relation, which is also the documented way to detect it.
 */
export function supportsQuickLook(): boolean {
  try {
    return document.createElement("a").relList.supports("ar");
  } catch {
    return false; // DOMTokenList.supports throws where a browser defines no supported tokens
  }
}
