import { defineConfig } from 'vite';

// The Rust server serves web/dist at "/" and handles /api/... itself.
// `npm run dev` proxies /api (HTTP + WebSocket) to a locally running server.
export default defineConfig({
  base: './',
  build: {
    outDir: 'dist',
    emptyOutDir: true,
    target: 'es2020',
    chunkSizeWarningLimit: 1500,
    sourcemap: false,
  },
  server: {
    proxy: {
      '/api': { target: process.env.LIANQIN_URL || 'http://127.0.0.1:18080', ws: true, changeOrigin: true },
    },
  },
});
