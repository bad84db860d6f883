/** Saving a fetched file under a name the user recognises. */

/** A file name from the model's name: letters, digits, dots, dashes and underscores; spaces become dashes. */
export function safeFileName(name: string | null | undefined, fallback: string): string {
  const cleaned = (name ?? "").trim().replace(/[^\p{L}\p{N}._ -]+/gu, "").replace(/\s+/g, "-");
  return cleaned || fallback;
}

/** Hands a blob to the browser's download (files need the token, so they cannot be plain links). */
export function saveBlob(blob: Blob, fileName: string) {
  const url = URL.createObjectURL(blob);
  const link = document.createElement("a");
  link.href = url;
  link.download = fileName;
  document.body.append(link);
  link.click();
  link.remove();
  setTimeout(() => URL.revokeObjectURL(url), 30_000);
}
