import { resolve } from 'node:path';
import { defineConfig } from 'electron-vite';
import react from '@vitejs/plugin-react';

const root = import.meta.dirname;

// Three processes from one config. "main" also builds the plain-Node entry points
// (HTTP server, CLI) so they share one bundled copy of the service layer.
export default defineConfig({
  main: {
    build: {
      outDir: 'out/main',
      rollupOptions: {
        input: {
          index: resolve(root, 'electron/main.ts'),
          'service-host': resolve(root, 'electron/service-host.ts'),
          server: resolve(root, 'server/main.ts'),
          cli: resolve(root, 'cli/main.ts'),
          // a worker thread's own file (db/open.ts checkIntegrityInBackground)
          'integrity-worker': resolve(root, 'db/integrity-worker.ts'),
        },
        external: ['better-sqlite3', 'electron'],
      },
    },
  },
  preload: {
    build: {
      // A sandboxed preload can require only 'electron': bundle zod and the contract into it.
      externalizeDeps: false,
      outDir: 'out/preload',
      rollupOptions: {
        input: { index: resolve(root, 'electron/preload.ts') },
        output: { format: 'cjs', entryFileNames: '[name].cjs' },
      },
    },
  },
  renderer: {
    root: resolve(root, 'renderer'),
    plugins: [react()],
    build: {
      outDir: resolve(root, 'out/renderer'),
      rollupOptions: { input: resolve(root, 'renderer/index.html') },
    },
  },
});
