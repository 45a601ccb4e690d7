import pc from 'picocolors';
import { describeError } from './errors.ts';
import { createProgram } from './program.ts';
import { ForwardedCommand } from './remote.ts';

/** `tollgate`: see ./program.ts for the commands. */
try {
  await createProgram().parseAsync(process.argv);
} catch (error) {
  if (error instanceof ForwardedCommand) process.exitCode = error.exitCode;
  else {
    console.error(pc.red(describeError(error)));
    process.exitCode = 1;
  }
}
