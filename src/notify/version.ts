import { readFileSync } from 'node:fs';

/** `Tollgate-Webhooks/<version>`: the User-Agent of every webhook, so receivers can tell (and allow) it. */
const pkg = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as {
  version: string;
};
export const USER_AGENT = `Tollgate-Webhooks/${pkg.version}`;
