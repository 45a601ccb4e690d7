import type { Command } from 'commander';

export function registerPlansCommands(_program: Command): void {}
