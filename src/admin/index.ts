/** The admin API (mounted by app.ts) and its shared admin-token auth. */
export { requireAdmin, resolveAdminToken } from './auth.ts';
export { ADMIN_BASE_PATH, type AdminApiDeps, createAdminApi, mountAdminApi } from './http.ts';
