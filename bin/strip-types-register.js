// Preloaded by bin/tollgate.js (`node --import`) on a Node that does not strip TypeScript types
// itself: registers the hook of bin/strip-types.js. Worker threads and cluster workers inherit the
// preload, so the embedded store's thread (src/store/pglite-worker.ts) gets it too.
import nodeModule from 'node:module';

nodeModule.register('./strip-types.js', import.meta.url);
