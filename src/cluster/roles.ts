/**
 * What each process runs (`tollgate start --role …`):
 *
 * | role    | listens on        | runs                                                          |
 * |---------|-------------------|---------------------------------------------------------------|
 * | gateway | gateway port      | proxy path: keys, rate limits, quotas, usage publish           |
 * | worker  | nothing (health)  | usage consumer → meters, billing run, dunning, alerts (leader)  |
 * | console | console port      | portal, admin API, OpenMeter-compatible metering API, /metrics |
 * | all     | both              | everything in one process (embedded mode)                       |
 *
 * Gateway nodes are stateless: any number may run behind a load balancer. Workers may run
 * several times: the usage consumer is shared (JetStream splits messages between them) and jobs
 * that must run once take a PostgreSQL advisory lock (src/store/locks.ts).
 */
export const ROLES = ['all', 'gateway', 'worker', 'console'] as const;
export type Role = (typeof ROLES)[number];

export function parseRole(value: string | undefined): Role {
  const role = (value ?? 'all').trim().toLowerCase();
  if ((ROLES as readonly string[]).includes(role)) return role as Role;
  throw new Error(`unknown role "${value}": use one of ${ROLES.join(', ')}`);
}

export const runsGateway = (role: Role | 'cli') => role === 'all' || role === 'gateway';
export const runsWorker = (role: Role | 'cli') => role === 'all' || role === 'worker';
export const runsConsole = (role: Role | 'cli') => role === 'all' || role === 'console';
