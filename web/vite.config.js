import { resolve } from 'node:path';
import { defineConfig } from 'vite';

// The Rust server serves web/dist at "/" and handles /api/... itself.
// Two pages: index.html (指挥大屏, the display-only wall) and console.html (调度台, the commander's workstation).
// `npm run dev` proxies /api (HTTP + WebSocket) to a locally running server.
export default defineConfig({
  base: './',
  build: {
    outDir: 'dist',
    emptyOutDir: true,
    target: 'es2020',
    chunkSizeWarningLimit: 1500,
    sourcemap: false,
    rollupOptions: {
      input: {
        index: resolve(import.meta.dirname, 'index.html'),
        console: resolve(import.meta.dirname, 'console.html'),
      },
    },
  },
  server: {
    proxy: {
      '/api': { target: process.env.LIANQIN_URL || 'http://127.0.0.1:18080', ws: true, changeOrigin: true },
    },
  },
});
