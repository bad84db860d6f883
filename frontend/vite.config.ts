/// <reference types="vitest/config" />
import { defineConfig } from "vite";
import react from "@vitejs/plugin-react";

// In production the status service serves dist/ and /config.json on one origin. For `npm run dev`,
// Vite forwards the same paths to a locally running status service (PHOTO3D_STATUS_URL).
const statusUrl = process.env.PHOTO3D_STATUS_URL ?? "http://127.0.0.1:8000";

export default defineConfig({
  plugins: [react()],
  base: "/",
  build: {
    outDir: "dist",
    sourcemap: true,
    // model-viewer (with three.js) is loaded on demand only when a finished model is shown.
    chunkSizeWarningLimit: 1200,
  },
  server: {
    host: "127.0.0.1",
    port: 5173,
    proxy: {
      "/api": { target: statusUrl, changeOrigin: false },
      "/config.json": { target: statusUrl },
    },
  },
  test: {
    environment: "jsdom",
    globals: true,
    setupFiles: ["./src/test/setup.ts"],
    css: false,
    restoreMocks: true,
    // typing tests take a few seconds on a busy two-core CI machine; 5 s (the default) is too tight there
    testTimeout: 15_000,
  },
});
