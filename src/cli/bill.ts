import type { Command } from 'commander';

export function registerBillingCommands(_program: Command): void {}
