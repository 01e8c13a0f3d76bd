import { readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { gzipSync } from 'node:zlib';
import react from '@vitejs/plugin-react';
import type { Plugin } from 'vite';
import { defineConfig } from 'vitest/config';

/** A gzip copy of every text file of the build, so the control plane sends compressed files
 * without compressing at each request (it serves `x.js.gz` for `x.js` to clients that accept
 * gzip). */
function precompress(): Plugin {
  return {
    name: 'nexbii-precompress',
    apply: 'build',
    // After writing: the files on disk are final (chunks are still rewritten in generateBundle).
    writeBundle(options, bundle) {
      for (const name of Object.keys(bundle).filter((n) => /\.(js|css|html|svg)$/.test(n))) {
        const file = path.join(options.dir!, name);
        writeFileSync(`${file}.gz`, gzipSync(readFileSync(file), { level: 9 }));
      }
    },
  };
}

// `npm run dev` serves the console with hot reload and sends API calls to a control plane
// running on the default quick-start address.
export default defineConfig({
  plugins: [react(), precompress()],
  build: {
    target: 'es2022',
    // Chromium, Firefox and Safari all support modulepreload; the polyfill would be dead code.
    modulePreload: { polyfill: false },
    sourcemap: false,
    // ECharts and CodeMirror are their own chunks, loaded on demand; only the shell counts.
    chunkSizeWarningLimit: 700,
  },
  server: {
    proxy: { '/api': 'http://127.0.0.1:8080' },
  },
  test: {
    include: ['src/**/*.test.ts', 'src/**/*.test.tsx'],
    environment: 'node',
  },
});
