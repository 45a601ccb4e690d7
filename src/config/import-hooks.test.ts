import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';

/**
 * Loading a config the way `tollgate dev` does, in a Node process of its own (the test runner
 * transforms imports itself, so only a plain Node shows what a user's project gets).
 */
const dir = mkdtempSync(join(tmpdir(), 'tollgate-cjs-project-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const LOAD_CONFIG = pathToFileURL(join(import.meta.dirname, 'index.ts')).href;

function loadInNode(project: string): { status: number | null; stdout: string; stderr: string } {
  const script = `const { loadConfig } = await import(${JSON.stringify(LOAD_CONFIG)});
const config = await loadConfig('tollgate.config.ts');
console.log(JSON.stringify({ name: config.name, upstream: config.upstream }));`;
  const result = spawnSync(process.execPath, ['--input-type=module', '-e', script], {
    cwd: project,
    encoding: 'utf8',
    env: { ...process.env, NODE_OPTIONS: '' },
  });
  return { status: result.status, stdout: result.stdout, stderr: result.stderr };
}

describe('tollgate.config.ts in the user’s project', () => {
  it('loads in a CommonJS project (what `npm init -y` writes), with the TypeScript files it imports', () => {
    writeFileSync(join(dir, 'package.json'), JSON.stringify({ name: 'my-api', type: 'commonjs' }));
    writeFileSync(join(dir, 'upstream.ts'), "export const upstream: string = 'http://127.0.0.1:3000';\n");
    writeFileSync(
      join(dir, 'tollgate.config.ts'),
      [
        "import { defineConfig } from 'tollgate';",
        "import { upstream } from './upstream.ts';",
        '',
        "const name: string = 'My API';",
        'export default defineConfig({',
        '  name,',
        '  upstream,',
        "  meters: [{ slug: 'requests', eventType: 'request', aggregation: 'COUNT' }],",
        '  plans: [],',
        '});',
        '',
      ].join('\n'),
    );
    const loaded = loadInNode(dir);
    expect(loaded.stderr).toBe('');
    expect(loaded.status).toBe(0);
    expect(JSON.parse(loaded.stdout)).toEqual({ name: 'My API', upstream: 'http://127.0.0.1:3000' });
  });
});
