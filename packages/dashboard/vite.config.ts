import { defineConfig } from "vite";

// The dashboard is served by the Burrow server at `/` (same origin as the API, so no CORS).
export default defineConfig({
  base: "/",
  oxc: { jsx: { runtime: "automatic", importSource: "preact" } },
  build: { outDir: "dist", emptyOutDir: true, sourcemap: false, chunkSizeWarningLimit: 1024 },
});
