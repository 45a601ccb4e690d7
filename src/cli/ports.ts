import type { Command } from 'commander';

/**
 * A port from a flag, else from an environment variable, else undefined (the config's port).
 * 0 means any free port. Anything else stops the command with a message naming the flag.
 */
export function portOption(
  command: Command,
  flag: string,
  value: string | undefined,
  env: string,
): number | undefined {
  const raw = value ?? process.env[env];
  if (raw === undefined || raw === '') return undefined;
  const port = Number(raw);
  if (!/^\d+$/.test(raw.trim()) || !Number.isInteger(port) || port > 65535) {
    command.error(`error: ${flag} (or ${env}) must be a port number from 0 to 65535, got "${raw}"`);
  }
  return port;
}
