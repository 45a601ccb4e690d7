#!/usr/bin/env node
// Tollgate runs on Node 24+ (TypeScript type stripping). Under npm scripts and npx the pinned
// Node from the `node` package is used; a global install needs Node 24 on the PATH.
const [major] = process.versions.node.split('.').map(Number);
if (major < 24) {
  console.error(
    `tollgate needs Node.js 24 or newer (this is ${process.version}). Run it through npx or npm scripts.`,
  );
  process.exit(1);
}
await import('../src/cli/main.ts');
