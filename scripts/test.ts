/**
 * `npm test`: everything CI checks, in the order that fails fastest.
 * Services (PostgreSQL, Redis, NATS) and Debian's chromium are started/installed when missing.
 */
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';

const bin = (name: string) => `node_modules/.bin/${name}`;
const steps: { name: string; cmd: string; args: string[]; when?: () => boolean }[] = [
  { name: 'services', cmd: 'bash', args: ['scripts/services.sh'] },
  { name: 'browser', cmd: 'bash', args: ['scripts/ensure-browser.sh'] },
  { name: 'lint', cmd: bin('biome'), args: ['check', '.'] },
  { name: 'shape', cmd: process.execPath, args: ['scripts/check-shape.ts'] },
  { name: 'typecheck', cmd: bin('tsc'), args: ['-p', 'tsconfig.json'] },
  {
    name: 'build portal',
    cmd: process.execPath,
    args: [bin('vite'), 'build', '--config', 'web/vite.config.ts', '--logLevel', 'warn'],
    when: () => existsSync('web/vite.config.ts'),
  },
  { name: 'tests', cmd: process.execPath, args: [bin('vitest'), 'run', ...process.argv.slice(2)] },
];

for (const step of steps) {
  if (step.when && !step.when()) continue;
  console.log(`\n\x1b[1m▶ ${step.name}\x1b[0m`);
  const result = spawnSync(step.cmd, step.args, { stdio: 'inherit', env: process.env });
  if (result.status !== 0) {
    console.error(`\x1b[31m✖ ${step.name} failed\x1b[0m`);
    process.exit(result.status ?? 1);
  }
}
