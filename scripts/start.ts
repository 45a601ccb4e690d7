/**
 * `npm start`: the quickstart, end to end, in one process. Starts the demo API, Tollgate in dev
 * mode (gateway, portal, embedded store, sandbox payments) in front of it, makes sure a demo
 * customer with a key exists, and prints what to do next.
 *
 * Ports: `npm start -- --port 9080 --console-port 9081 --upstream-port 5010`, or TOLLGATE_PORT,
 * TOLLGATE_CONSOLE_PORT, TOLLGATE_UPSTREAM_PORT (0 = any free port). Without either, 8080, 8081
 * and 4010, or a free port when one is busy.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import pc from 'picocolors';
import { startDemoUpstream } from '../examples/quickstart/upstream.ts';
import { resolveAdminToken } from '../src/admin/auth.ts';
import { startTollgate, type Tollgate } from '../src/app.ts';
import { dataDirOf, removeServerFile, writeServerFile } from '../src/cli/data-dir.ts';
import { createProgram } from '../src/cli/program.ts';
import { mountCliRoute } from '../src/cli/remote.ts';
import { ConfigError, loadConfig } from '../src/config/index.ts';
import { createLogger } from '../src/util/log.ts';

const root = resolve(import.meta.dirname, '..');
const configFile = join(root, 'examples/quickstart/tollgate.config.ts');
// The same rule as every `tollgate` command: `.tollgate` next to the config file.
const dataDir = dataDirOf({ config: configFile, dataDir: process.env.TOLLGATE_DATA_DIR });

const args = parseArgs({
  options: {
    port: { type: 'string' },
    'console-port': { type: 'string' },
    'upstream-port': { type: 'string' },
  },
}).values;

/** A port asked for by flag or variable (exactly that one), or undefined (the default, or a free one). */
function askedPort(flag: string, value: string | undefined, env: string): number | undefined {
  const raw = value ?? process.env[env];
  if (raw === undefined || raw === '') return undefined;
  const port = Number(raw);
  if (!/^\d+$/.test(raw) || port > 65535) {
    console.error(pc.red(`--${flag} (or ${env}) must be a port number from 0 to 65535, got "${raw}"`));
    process.exit(1);
  }
  return port;
}

function portFree(port: number): Promise<boolean> {
  return new Promise((done) => {
    const probe = createServer()
      .once('error', () => done(false))
      .once('listening', () => probe.close(() => done(true)))
      .listen(port, '127.0.0.1');
  });
}

async function pickPort(preferred: number, what: string): Promise<number> {
  if (await portFree(preferred)) return preferred;
  console.log(pc.yellow(`port ${preferred} is busy; the ${what} takes a free port instead`));
  return 0;
}

function step(text: string) {
  console.log(pc.dim(`• ${text}`));
}

if (!existsSync(join(root, 'dist/web/index.html'))) {
  step('building the developer portal (first run only)…');
  const built = spawnSync(
    process.execPath,
    [join(root, 'node_modules/.bin/vite'), 'build', '--config', 'web/vite.config.ts', '--logLevel', 'warn'],
    {
      cwd: root,
      stdio: 'inherit',
    },
  );
  if (built.status !== 0) process.exit(built.status ?? 1);
}

step('starting the demo API…');
const upstream = await startDemoUpstream(
  askedPort('upstream-port', args['upstream-port'], 'TOLLGATE_UPSTREAM_PORT') ??
    (await pickPort(4010, 'demo API')),
);
process.env.QUICKSTART_UPSTREAM = upstream.url;

step('starting Tollgate (first open of the embedded store takes a few seconds)…');
let config: Awaited<ReturnType<typeof loadConfig>>;
try {
  config = await loadConfig(configFile);
} catch (error) {
  console.error(pc.red(error instanceof ConfigError ? error.message : String(error)));
  process.exit(1);
}
let live: Tollgate | null = null;
const tollgate = await startTollgate({
  config,
  dataDir,
  gatewayPort:
    askedPort('port', args.port, 'TOLLGATE_PORT') ?? (await pickPort(config.gateway.port, 'gateway')),
  consolePort:
    askedPort('console-port', args['console-port'], 'TOLLGATE_CONSOLE_PORT') ??
    (await pickPort(config.console.port, 'portal')),
  watchConfig: configFile,
  log: createLogger({ pretty: true }),
  // `npx tollgate --config examples/quickstart/tollgate.config.ts keys list` reaches this process.
  routes: (app) =>
    mountCliRoute(app, {
      adminToken: resolveAdminToken(config, dataDir),
      tollgate: () => live,
      createProgram,
    }),
});
live = tollgate;
if (tollgate.consoleUrl) {
  writeServerFile(dataDir, {
    pid: process.pid,
    consoleUrl: tollgate.consoleUrl,
    gatewayUrl: tollgate.gatewayUrl,
    startedAt: new Date().toISOString(),
  });
  process.once('exit', () => removeServerFile(dataDir));
}

// A demo customer on the Free plan with one key. The key's secret is only ever shown once, so
// the quickstart keeps it in its data folder to print it again on the next start.
const keyFile = join(dataDir, 'demo-key.json');
let demo: { customerId: string; keyId: string; secret: string } | null = existsSync(keyFile)
  ? (JSON.parse(readFileSync(keyFile, 'utf8')) as { customerId: string; keyId: string; secret: string })
  : null;
if (demo) {
  const key = await tollgate.keys.get(demo.keyId).catch(() => null);
  if (key?.status !== 'active') demo = null;
}
if (!demo) {
  const customer =
    (await tollgate.customers.findByEmail('demo@example.com')) ??
    (await tollgate.customers.create({ name: 'Demo customer', email: 'demo@example.com' }));
  const existing = (await tollgate.subscriptions.list({ customerId: customer.id })).find(
    (s) => s.status !== 'canceled',
  );
  const subscription =
    existing ?? (await tollgate.subscriptions.subscribe({ customerId: customer.id, planKey: 'free' }));
  const created = await tollgate.keys.create({
    customerId: customer.id,
    subscriptionId: subscription.id,
    name: 'quickstart',
  });
  demo = { customerId: customer.id, keyId: created.key.id, secret: created.secret };
  mkdirSync(dataDir, { recursive: true });
  writeFileSync(keyFile, JSON.stringify(demo, null, 2), { mode: 0o600 });
}

const gw = tollgate.gatewayUrl;
const portal = tollgate.consoleUrl;
const line = pc.dim('─'.repeat(72));
console.log(`
${line}
${pc.bold(pc.green('Tollgate is running'))} — ${config.name}

  ${pc.bold('Gateway')}        ${pc.cyan(gw ?? '')}     (your API, with keys, limits and metering)
  ${pc.bold('Portal')}         ${pc.cyan(`${portal}/`)}    (docs, sign-up, pricing, checkout, usage)
  ${pc.bold('Admin API')}      ${pc.cyan(`${portal}/api/admin/docs`)}
  ${pc.bold('Demo API')}       ${pc.dim(upstream.url)}     (the upstream behind the gateway)

  Demo key (Free plan: 1,000 requests/month, 100/minute):
    ${pc.yellow(demo.secret)}
  Admin token:
    ${pc.yellow(tollgate.runtime.adminToken)}

${pc.bold('Try it')}
  curl -i -H "Authorization: Bearer ${demo.secret}" "${gw}/v1/weather?city=Paris"

  ${pc.dim('# usage so far (OpenMeter-compatible API):')}
  curl -H "Authorization: Bearer ${tollgate.runtime.adminToken}" "${portal}/api/v1/meters/requests/query?groupBy=route"

${pc.bold('Next')}
  1. Open the portal's ${pc.bold('Pricing')}, choose ${pc.bold('Pro')}, sign up (the confirmation link is in the dev mailbox) and pay with the sandbox card ${pc.bold('4242 4242 4242 4242')}.
  2. Call the chat endpoint with your new key (Pro includes chat):
     curl -N -H "Authorization: Bearer <your key>" -H 'content-type: application/json' \\
       -d '{"model":"tg-small","stream":true,"messages":[{"role":"user","content":"hi"}]}' ${gw}/v1/chat/completions
  3. Edit ${pc.bold('examples/quickstart/tollgate.config.ts')}: the gateway reloads on save.
  4. The CLI works while this runs (it asks this process):
     npx tollgate --config examples/quickstart/tollgate.config.ts customers list
${line}
Press Ctrl+C to stop.`);

const stop = async () => {
  removeServerFile(dataDir);
  await tollgate.stop();
  await upstream.close();
  process.exit(0);
};
process.once('SIGINT', stop);
process.once('SIGTERM', stop);
