import { fileURLToPath } from 'node:url';
import { defineConfig } from 'vite';

/**
 * The admin console, built into dist/console-assets and served by the broker
 * at /console/ (src/console/console.static.ts). Everything it loads comes
 * from that folder: no inline script or style, so the strict CSP holds.
 */
export default defineConfig({
  root: fileURLToPath(new URL('.', import.meta.url)),
  base: '/console/',
  oxc: { jsx: { runtime: 'automatic', importSource: 'preact' } },
  build: {
    outDir: fileURLToPath(new URL('../dist/console-assets', import.meta.url)),
    emptyOutDir: true,
    // A stylesheet small enough to inline would become a data: URL, which style-src 'self' refuses.
    assetsInlineLimit: 0,
    modulePreload: { polyfill: false },
    sourcemap: false,
  },
});
