// Vite builds the console into dist/, which build.rs embeds into the ragway binary.
import { defineConfig } from "vite";

export default defineConfig({
  // Preact's automatic JSX runtime, through Vite's own transformer: no plugin needed.
  oxc: { jsx: { runtime: "automatic", importSource: "preact" } },
  build: {
    target: "es2022",
    // One hashed file per kind keeps the embedded table small; no inline scripts (CSP).
    assetsInlineLimit: 0,
    modulePreload: { polyfill: false },
    sourcemap: false,
  },
  server: {
    // `npm run dev` against a ragway on 8080: the API stays same-origin for the page.
    proxy: { "/v1": "http://127.0.0.1:8080" },
  },
});
