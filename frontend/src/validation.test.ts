import { describe, expect, it } from "vitest";
import { checkPhoto, DEFAULT_MAX_UPLOAD_BYTES, effectiveType, formatBytes } from "./validation";

const file = (name: string, type: string, size: number) => ({ name, type, size });

describe("checkPhoto", () => {
  it("accepts JPEG, PNG and WebP photos within the limit", () => {
    expect(checkPhoto(file("a.jpg", "image/jpeg", 1000))).toBeNull();
    expect(checkPhoto(file("a.png", "image/png", 1000))).toBeNull();
    expect(checkPhoto(file("a.webp", "image/webp", 1000))).toBeNull();
  });

  it("accepts HEIC photos from phones", () => {
    expect(checkPhoto(file("IMG_1.HEIC", "image/heic", 1000))).toBeNull();
    expect(checkPhoto(file("IMG_1.heic", "", 1000))).toBeNull();
  });

  it("rejects other types with a message naming the file", () => {
    expect(checkPhoto(file("notes.pdf", "application/pdf", 1000))).toBe(
      "“notes.pdf” is not a supported photo type (application/pdf). Please choose a JPEG, PNG, WebP or HEIC photo.",
    );
    expect(checkPhoto(file("scan.tiff", "image/tiff", 1000))).toMatch(/JPEG, PNG, WebP or HEIC/);
  });

  it("rejects empty and too large files", () => {
    expect(checkPhoto(file("a.jpg", "image/jpeg", 0))).toMatch(/empty/);
    expect(checkPhoto(file("big.jpg", "image/jpeg", DEFAULT_MAX_UPLOAD_BYTES + 1))).toMatch(/at most 20 MB/);
  });

  it("uses the configured rules", () => {
    const rules = { acceptedTypes: ["image/png"], maxBytes: 10 };
    expect(checkPhoto(file("a.jpg", "image/jpeg", 5), rules)).not.toBeNull();
    expect(checkPhoto(file("a.png", "image/png", 11), rules)).toMatch(/at most 10 B/);
    expect(checkPhoto(file("a.png", "image/png", 10), rules)).toBeNull();
  });

  it("guesses the type from the name when the browser reports none", () => {
    expect(effectiveType({ name: "x.JPG", type: "" })).toBe("image/jpeg");
    expect(effectiveType({ name: "x", type: "" })).toBe("");
  });

  it("formats sizes for people", () => {
    expect(formatBytes(512)).toBe("512 B");
    expect(formatBytes(2048)).toBe("2 KB");
    expect(formatBytes(5 * 1024 * 1024)).toBe("5 MB");
  });
});
