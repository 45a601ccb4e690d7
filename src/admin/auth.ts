import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { MiddlewareHandler } from 'hono';
import type { ResolvedConfig } from '../config/index.ts';
import { problems } from '../http/problem.ts';
import { sameSecret } from '../http/secrets.ts';

/**
 * The admin token guards `/api/admin/*` and the OpenMeter-compatible `/api/v1/*` API (as an
 * OpenMeter API key would). Taken from the config, else `TOLLGATE_ADMIN_TOKEN`, else generated
 * once and kept in `<dataDir>/admin-token` (mode 0600).
 */
export function resolveAdminToken(config: ResolvedConfig, dataDir: string): string {
  if (config.admin.token) return config.admin.token;
  if (process.env.TOLLGATE_ADMIN_TOKEN) return process.env.TOLLGATE_ADMIN_TOKEN;
  const file = join(dataDir, 'admin-token');
  if (existsSync(file)) return readFileSync(file, 'utf8').trim();
  mkdirSync(dataDir, { recursive: true });
  const token = `tga_${randomBytes(24).toString('base64url')}`;
  writeFileSync(file, `${token}\n`, { mode: 0o600 });
  return token;
}

/** Hono middleware: `Authorization: Bearer <admin token>`, else 401 problem+json. */
export function requireAdmin(token: string): MiddlewareHandler {
  return async (c, next) => {
    const header = c.req.header('authorization') ?? '';
    const presented = header.startsWith('Bearer ') ? header.slice(7).trim() : '';
    if (!presented || !sameSecret(presented, token)) {
      throw problems.unauthorized('A valid admin token is required (Authorization: Bearer <token>).');
    }
    await next();
  };
}
