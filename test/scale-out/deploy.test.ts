/**
 * The deployment files parse and agree with the program: every role they start exists, every
 * environment variable they set is one Tollgate reads, and the ConfigMap carries the same config
 * as deploy/config (which itself is a valid tollgate.config.ts). There is no Docker engine or
 * Kubernetes cluster in CI, so this is what can be checked without one.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { parseAllDocuments } from 'yaml';
import { ROLES } from '../../src/cluster/roles.ts';
import { loadConfig } from '../../src/config/index.ts';

const deployDir = join(import.meta.dirname, '../../deploy');
const read = (file: string) => readFileSync(join(deployDir, file), 'utf8');
type Doc = Record<string, unknown> & { kind?: string; metadata?: { name: string } };

function parseYaml(file: string): Doc[] {
  const docs = parseAllDocuments(read(file), { merge: true });
  for (const doc of docs) expect(doc.errors, `${file}: ${doc.errors.join('; ')}`).toEqual([]);
  return docs.map((d) => d.toJS() as Doc).filter(Boolean);
}

const KNOWN_ENV = new Set([
  'TOLLGATE_DATABASE_URL',
  'TOLLGATE_REDIS_URL',
  'TOLLGATE_NATS_URL',
  'TOLLGATE_ADMIN_TOKEN',
  'TOLLGATE_UPSTREAM',
  'TOLLGATE_CONSOLE_URL',
  'TOLLGATE_HEALTH_PORT',
  'TOLLGATE_LOG_LEVEL',
]);

function roleOf(args: string[]): string | undefined {
  const i = args.indexOf('--role');
  return i >= 0 ? args[i + 1] : undefined;
}

describe('deploy/', () => {
  it('docker-compose.yml: backends, two gateways, a worker and a console, all started with valid roles', () => {
    const [compose] = parseYaml('docker-compose.yml') as [
      { services: Record<string, Record<string, unknown>> },
    ];
    const services = compose.services;
    expect(Object.keys(services)).toEqual(
      expect.arrayContaining(['postgres', 'redis', 'nats', 'gateway-1', 'gateway-2', 'worker', 'console']),
    );
    const roles = Object.values(services)
      .map((s) => s.command as string[] | undefined)
      .filter((c): c is string[] => Array.isArray(c) && c[0] === 'start')
      .map(roleOf);
    expect(roles.sort()).toEqual(['console', 'gateway', 'gateway', 'worker']);
    for (const role of roles) expect(ROLES).toContain(role);
    for (const name of ['gateway-1', 'worker', 'console']) {
      const env = services[name]?.environment as Record<string, string>;
      for (const key of Object.keys(env)) expect(KNOWN_ENV, key).toContain(key);
      expect(env.TOLLGATE_NATS_URL).toBe('nats://nats:4222');
    }
    expect(services.nats?.command).toContain('-js');
    expect(read('nginx.conf')).toContain('server gateway-2:8080');
  });

  it('k8s/*.yaml: Deployments with valid roles, probes on the health port, and their Services', () => {
    const docs = readdirSync(join(deployDir, 'k8s'))
      .filter((f) => f.endsWith('.yaml'))
      .flatMap((f) => parseYaml(join('k8s', f)));
    const kinds = docs.map((d) => `${d.kind}/${d.metadata?.name}`);
    expect(kinds).toEqual(
      expect.arrayContaining([
        'Deployment/tollgate-gateway',
        'Deployment/tollgate-worker',
        'Deployment/tollgate-console',
        'Service/tollgate-gateway',
        'Service/tollgate-console',
        'ConfigMap/tollgate-config',
        'Secret/tollgate',
        'Job/tollgate-migrate',
      ]),
    );
    for (const doc of docs.filter((d) => d.kind === 'Deployment')) {
      const spec = doc.spec as { template: { spec: { containers: Record<string, unknown>[] } } };
      const container = spec.template.spec.containers[0] as {
        args: string[];
        env: { name: string }[];
        readinessProbe: { httpGet: { path: string } };
      };
      expect(ROLES).toContain(roleOf(container.args));
      for (const { name } of container.env) expect(KNOWN_ENV, name).toContain(name);
      expect(container.readinessProbe.httpGet.path).toBe('/readyz');
    }
  });

  it('the ConfigMap carries deploy/config/tollgate.config.ts, which is a valid config', async () => {
    const [configMap] = parseYaml('k8s/configmap.yaml') as [{ data: Record<string, string> }];
    expect(configMap.data['tollgate.config.ts']).toBe(read('config/tollgate.config.ts'));
    const config = await loadConfig(join(deployDir, 'config/tollgate.config.ts'));
    expect(config.gateway.host).toBe('0.0.0.0');
    expect(config.scaleOut.onRedisError).toBe('open');
  });
});
