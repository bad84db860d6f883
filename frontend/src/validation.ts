/** Checks a photo before it is sent; the upload service checks again by content, size and dimensions. */

/** What the upload service accepts (services/upload validation.py): JPEG, PNG, WebP and HEIC/HEIF from phones. */
export const DEFAULT_ACCEPTED_TYPES = ["image/jpeg", "image/png", "image/webp", "image/heic", "image/heif"] as const;
export const DEFAULT_MAX_UPLOAD_BYTES = 20 * 1024 * 1024;

const EXTENSION_TYPES: Record<string, string> = {
  jpg: "image/jpeg",
  jpeg: "image/jpeg",
  png: "image/png",
  webp: "image/webp",
  heic: "image/heic",
  heif: "image/heif",
};

export interface PhotoRules {
  acceptedTypes: readonly string[];
  maxBytes: number;
}

export const DEFAULT_RULES: PhotoRules = {
  acceptedTypes: DEFAULT_ACCEPTED_TYPES,
  maxBytes: DEFAULT_MAX_UPLOAD_BYTES,
};

export function formatBytes(bytes: number): string {
  if (bytes < 1024) return `${bytes} B`;
  if (bytes < 1024 * 1024) return `${(bytes / 1024).toFixed(0)} KB`;
  return `${(bytes / (1024 * 1024)).toFixed(1).replace(/\.0$/, "")} MB`;
}

const TYPE_LABELS: Record<string, string> = {
  "image/jpeg": "JPEG",
  "image/png": "PNG",
  "image/webp": "WebP",
  "image/heic": "HEIC",
  "image/heif": "HEIC",
};

export function acceptedTypesText(rules: PhotoRules): string {
  const labels = [...new Set(rules.acceptedTypes.map((type) => TYPE_LABELS[type] ?? type.replace(/^image\//, "")))];
  return labels.length > 1 ? `${labels.slice(0, -1).join(", ")} or ${labels.at(-1)}` : (labels[0] ?? "");
}

/** The file's type as the browser reports it, or guessed from the name when the browser says nothing. */
export function effectiveType(file: Pick<File, "type" | "name">): string {
  if (file.type) return file.type.toLowerCase();
  const extension = file.name.split(".").pop()?.toLowerCase() ?? "";
  return EXTENSION_TYPES[extension] ?? "";
}

/** A message for the user when the file cannot be sent, or null when it can. */
export function checkPhoto(file: Pick<File, "type" | "name" | "size">, rules: PhotoRules = DEFAULT_RULES): string | null {
  const type = effectiveType(file);
  if (!rules.acceptedTypes.includes(type)) {
    const what = type ? ` (${type})` : "";
    return `“${file.name}” is not a supported photo type${what}. Please choose a ${acceptedTypesText(rules)} photo.`;
  }
  if (file.size === 0) return `“${file.name}” is empty.`;
  if (file.size > rules.maxBytes) {
    return `“${file.name}” is ${formatBytes(file.size)}; photos can be at most ${formatBytes(rules.maxBytes)}.`;
  }
  return null;
}
