/**
 * `npm run build` (and `prepack`): what the published package runs, in `dist/`.
 *   - the compiled JavaScript and declarations of `src/` (tsconfig.build.json: `.ts` imports are
 *     rewritten to `.js`, tests left out);
 *   - the SQL migrations next to the compiled migration runner;
 *   - the developer portal, prebuilt by Vite into `dist/web`;
 *   - Scalar's standalone script for the admin API reference (`dist/admin/scalar-standalone.js`).
 * The repository itself keeps running from `src/`; nothing here is needed for `npm start`.
 */
import { spawnSync } from 'node:child_process';
import { cpSync, existsSync, rmSync } from 'node:fs';
import { join, resolve } from 'node:path';

const root = resolve(import.meta.dirname, '..');
const bin = (name: string) => join(root, 'node_modules/.bin', name);

function run(what: string, cmd: string, args: string[]): void {
  console.log(`▶ ${what}`);
  const result = spawnSync(cmd, args, { cwd: root, stdio: 'inherit' });
  if (result.status !== 0) {
    console.error(`✖ ${what} failed`);
    process.exit(result.status ?? 1);
  }
}

rmSync(join(root, 'dist'), { recursive: true, force: true });
run('compile src/ → dist/', bin('tsc'), ['-p', 'tsconfig.build.json']);
cpSync(join(root, 'src/store/migrations'), join(root, 'dist/store/migrations'), { recursive: true });
// The admin API reference's browser script, served by the console so the page works offline
// (src/admin/reference.ts).
cpSync(
  join(root, 'node_modules/@scalar/api-reference/dist/browser/standalone.js'),
  join(root, 'dist/admin/scalar-standalone.js'),
);
run('build the developer portal → dist/web', process.execPath, [
  bin('vite'),
  'build',
  '--config',
  'web/vite.config.ts',
  '--logLevel',
  'warn',
]);
for (const needed of [
  'dist/index.js',
  'dist/index.d.ts',
  'dist/cli/main.js',
  'dist/web/index.html',
  'dist/admin/scalar-standalone.js',
]) {
  if (!existsSync(join(root, needed))) {
    console.error(`✖ the build did not produce ${needed}`);
    process.exit(1);
  }
}
console.log('✔ dist/ is ready');
