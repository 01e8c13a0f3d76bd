import { defineConfig } from 'vitest/config';
import react from '@vitejs/plugin-react';

// `npm run dev` serves the console with hot reload and sends API calls to a control plane
// running on the default quick-start address.
export default defineConfig({
  plugins: [react()],
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
