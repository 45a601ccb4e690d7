import { createServer, type Server } from 'node:http';
import type { Registry } from 'prom-client';
import type { BackendStatus } from './backends.ts';

/**
 * A small listener for processes that have no console (gateway and worker roles in a
 * deployment): `/healthz` (the process is up), `/readyz` (every backend answers; 503 if not)
 * and `/metrics` (Prometheus). Kubernetes probes and scrapers point here.
 */
export interface HealthServerOptions {
  port: number;
  host?: string;
  role: string;
  checks: () => Promise<Record<string, BackendStatus>>;
  registry?: Registry;
}

export async function readiness(
  checks: () => Promise<Record<string, BackendStatus>>,
): Promise<{ status: number; body: Record<string, unknown> }> {
  let backends: Record<string, BackendStatus>;
  try {
    backends = await checks();
  } catch (error) {
    return { status: 503, body: { status: 'unavailable', detail: (error as Error).message } };
  }
  const ready = Object.values(backends).every((b) => b.ok);
  // Warnings do not fail readiness (the node works); they are listed for the operator.
  const warnings = Object.entries(backends).flatMap(([name, b]) =>
    b.warning ? [`${name}: ${b.warning}`] : [],
  );
  return {
    status: ready ? 200 : 503,
    body: { status: ready ? 'ready' : 'degraded', backends, ...(warnings.length > 0 && { warnings }) },
  };
}

export function startHealthServer(options: HealthServerOptions): Promise<{ server: Server; url: string }> {
  const server = createServer((req, res) => {
    const path = (req.url ?? '/').split('?')[0];
    const send = (status: number, body: string, type = 'application/json') => {
      res.writeHead(status, { 'content-type': type, 'cache-control': 'no-store' });
      res.end(body);
    };
    if (path === '/healthz') return send(200, JSON.stringify({ status: 'ok', role: options.role }));
    if (path === '/readyz') {
      void readiness(options.checks).then(({ status, body }) =>
        send(status, JSON.stringify({ ...body, role: options.role })),
      );
      return;
    }
    if (path === '/metrics' && options.registry) {
      const registry = options.registry;
      void registry.metrics().then(
        (text) => send(200, text, registry.contentType),
        () => send(500, 'metrics unavailable\n', 'text/plain'),
      );
      return;
    }
    send(
      404,
      JSON.stringify({ type: 'https://tollgate.dev/problems/not-found', title: 'Not found', status: 404 }),
      'application/problem+json',
    );
  });
  const host = options.host ?? '0.0.0.0';
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port, host, () => {
      const address = server.address();
      const port = typeof address === 'object' && address ? address.port : options.port;
      resolve({ server, url: `http://${host === '0.0.0.0' ? '127.0.0.1' : host}:${port}` });
    });
  });
}
