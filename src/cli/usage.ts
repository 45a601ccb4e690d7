import type { Command } from 'commander';

export function registerUsageCommands(_program: Command): void {}
