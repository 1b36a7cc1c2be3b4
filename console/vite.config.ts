import { defineConfig } from 'vite';

// The console is served by koban itself at `/`; `npm run dev` proxies the API to a
// local `koban demo`.
export default defineConfig({
  base: '/',
  build: {
    target: 'es2022',
    chunkSizeWarningLimit: 2000,
    sourcemap: false,
    assetsInlineLimit: 0,
  },
  server: {
    proxy: {
      '/api': { target: 'http://127.0.0.1:8110', ws: true },
    },
  },
});
