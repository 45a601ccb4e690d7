import type { Command } from 'commander';

/**
 * Where a `tollgate` program writes when it runs inside a server for another process. Its own
 * file so that the server command, which builds such programs, need not import `program.ts`,
 * which registers the server command.
 */
export interface ProgramOutput {
  writeOut: (text: string) => void;
  writeErr: (text: string) => void;
}

/** Builds a `tollgate` program that writes to `output` (passed in to avoid an import cycle). */
export type CreateProgram = (output: ProgramOutput) => Command;
