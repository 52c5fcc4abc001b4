import { resolve } from 'node:path';
import { defineConfig } from 'vite';

// The Rust server serves web/dist at "/" and handles /api/... itself.
// Three pages: index.html (指挥大屏, the display-only wall), console.html (调度台, the commander's workstation)
// and review.html (热点研判, the station leader's hotspot review).
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
        review: resolve(import.meta.dirname, 'review.html'),
      },
    },
  },
  server: {
    proxy: {
      '/api': { target: process.env.LIANQIN_URL || 'http://127.0.0.1:18080', ws: true, changeOrigin: true },
    },
  },
});
