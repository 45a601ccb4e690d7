import { stripVTControlCharacters } from 'node:util';
import { createRoute, OpenAPIHono, z } from '@hono/zod-openapi';
import type { Command } from 'commander';
import { CommanderError } from 'commander';
import type { Hono } from 'hono';
import { bodyLimit } from 'hono/body-limit';
import pc from 'picocolors';
import { requireAdmin, resolveAdminToken } from '../admin/auth.ts';
import type { Tollgate } from '../app.ts';
import { formatPath, loadConfig } from '../config/index.ts';
import { PROBLEM_CONTENT_TYPE, problems } from '../http/problem.ts';
import { globalOptions } from './context.ts';
import { readServerFile } from './data-dir.ts';
import { CliError, describeError } from './errors.ts';
import { inProcessRun, runInProcess } from './in-process.ts';
import type { CreateProgram } from './program-output.ts';

/**
 * One CLI whether or not Tollgate is running. The embedded store is one process's: while
 * `tollgate dev`/`start` holds it, another `tollgate keys …` cannot open it. So that command
 * finds the running server through `<dataDir>/server.json`, sends it its arguments (admin token
 * in the Authorization header), and the server runs the same command against its own services
 * and sends back what it printed and its exit code.
 *
 * Commands that start or migrate a store, write files for the user, or stream a local file stay
 * local. PostgreSQL has no such lock, so `--database` never forwards.
 */
const LOCAL_COMMANDS = new Set(['dev', 'start', 'migrate', 'init', 'usage import']);

export function runsLocallyOnly(command: Command): boolean {
  const path = commandPath(command);
  return LOCAL_COMMANDS.has(path) || LOCAL_COMMANDS.has(path.split(' ')[0] ?? '');
}

/** Thrown by the pre-action hook once a running server has run the command. */
export class ForwardedCommand extends Error {
  readonly exitCode: number;
  constructor(exitCode: number) {
    super(`ran by the running Tollgate server (exit code ${exitCode})`);
    this.name = 'ForwardedCommand';
    this.exitCode = exitCode;
  }
}

function commandPath(command: Command): string {
  const names: string[] = [];
  for (let c: Command | null = command; c?.parent; c = c.parent) names.unshift(c.name());
  return names.join(' ');
}

const RESULT = z.object({ stdout: z.string(), stderr: z.string(), exitCode: z.number().int() });

/** `program.hook('preAction', …)`: forwards the command if a server owns the embedded store. */
export async function forwardToRunningServer(actionCommand: Command): Promise<void> {
  // init touches no store; dev and start meet the store's own lock (which also knows a dead
  // process's leftover lock from a live one).
  if (inProcessRun() || ['init', 'dev', 'start'].includes(commandPath(actionCommand))) return;
  const options = globalOptions(actionCommand);
  if (options.database) return;
  const server = readServerFile(options.dataDir);
  if (!server) return;
  if (runsLocallyOnly(actionCommand)) {
    // Say so plainly instead of the store's lock error.
    const path = commandPath(actionCommand);
    const why =
      path === 'usage import'
        ? 'reads its file in a process of its own: stop that process first, or send the events to it ' +
          `(POST ${server.consoleUrl}/api/v1/events, OpenMeter's ingest API, with the admin token).`
        : 'needs the store to itself: stop that process first.';
    throw new CliError(
      `Tollgate is running on ${options.dataDir} (pid ${server.pid}, ${server.consoleUrl}); \`tollgate ${path}\` ${why}`,
    );
  }
  const token = resolveAdminToken(await loadConfig(options.config), options.dataDir);
  let response: Response;
  try {
    response = await fetch(`${server.consoleUrl}/api/admin/cli`, {
      method: 'POST',
      headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
      body: JSON.stringify({ argv: process.argv.slice(2), cwd: process.cwd(), color: pc.isColorSupported }),
      signal: AbortSignal.timeout(15 * 60_000),
    });
  } catch (error) {
    throw new CliError(
      `Tollgate is running (pid ${server.pid}, ${server.consoleUrl}) but did not answer: ${(error as Error).message}`,
    );
  }
  if (!response.ok) {
    const problem = (await response.json().catch(() => ({}))) as { title?: string; detail?: string };
    throw new CliError(
      `The running Tollgate (pid ${server.pid}) refused the command: ${problem.title ?? response.status}${problem.detail ? `: ${problem.detail}` : ''}`,
    );
  }
  const result = RESULT.parse(await response.json());
  process.stdout.write(result.stdout);
  process.stderr.write(result.stderr);
  throw new ForwardedCommand(result.exitCode);
}

export interface CliRouteDeps {
  adminToken: string;
  /** The running instance (null until it has started: the route answers 503 meanwhile). */
  tollgate: () => Tollgate | null;
  /** Builds a fresh `tollgate` program (./program.ts) writing to the given sinks, throwing instead of exiting. */
  createProgram: CreateProgram;
  /** The admin OpenAPI document's registry: `POST /cli` is listed in /api/admin/openapi.json. */
  adminRegistry?: OpenAPIHono['openAPIRegistry'];
}

const cliRoute = createRoute({
  method: 'post',
  path: '/cli',
  summary: 'Run a tollgate CLI command in this process',
  description:
    'Used by the `tollgate` command while this server owns the embedded store. The body holds the arguments after `tollgate` and the caller’s working directory; the answer holds what the command printed and its exit code.',
  request: {
    body: {
      required: true,
      content: {
        'application/json': {
          schema: z.object({
            argv: z.array(z.string().max(4096)).min(1).max(64),
            cwd: z.string().min(1).max(4096),
            /** Whether the caller's terminal shows colour; without it the output is plain text. */
            color: z.boolean().optional(),
          }),
        },
      },
    },
  },
  responses: {
    200: { description: 'The command ran', content: { 'application/json': { schema: RESULT } } },
    400: { description: 'Invalid body', content: { [PROBLEM_CONTENT_TYPE]: { schema: z.object({}) } } },
    401: {
      description: 'Missing or wrong admin token',
      content: { [PROBLEM_CONTENT_TYPE]: { schema: z.object({}) } },
    },
  },
});

/** Mounts `POST /api/admin/cli` (admin token) on the console listener. */
export function mountCliRoute(app: Hono, deps: CliRouteDeps): void {
  const api = new OpenAPIHono({
    defaultHook: (result) => {
      if (result.success) return;
      const errors = result.error.issues.map((i) => ({ path: formatPath(i.path), message: i.message }));
      throw problems.validation(
        `Invalid ${result.target}: ${errors.map((e) => `${e.path}: ${e.message}`).join('; ')}`,
        errors,
      );
    },
  });
  deps.adminRegistry?.registerPath(cliRoute);
  api.use('/cli', requireAdmin(deps.adminToken));
  api.use(
    '/cli',
    bodyLimit({
      maxSize: 256 * 1024,
      onError: () => {
        throw problems.badRequest('The body is larger than 256 KiB.');
      },
    }),
  );
  api.openapi(cliRoute, async (c) => {
    const { argv, cwd, color } = c.req.valid('json');
    // The server's own terminal decided picocolors' colours; the caller's decides what it sees.
    const shown = (text: string) => (color ? text : stripVTControlCharacters(text));
    const tollgate = deps.tollgate();
    if (!tollgate) throw problems.conflict('Tollgate is still starting; try again in a moment.');
    const run = { tollgate, cwd, stdout: [] as string[], stderr: [] as string[] };
    let exitCode = 0;
    await runInProcess(run, async () => {
      const program = deps.createProgram({
        writeOut: (text) => run.stdout.push(text),
        writeErr: (text) => run.stderr.push(text),
      });
      try {
        await program.parseAsync(argv, { from: 'user' });
      } catch (error) {
        if (error instanceof CommanderError) exitCode = error.exitCode;
        else {
          run.stderr.push(`${describeError(error)}\n`);
          exitCode = 1;
        }
      }
    });
    return c.json({ stdout: shown(run.stdout.join('')), stderr: shown(run.stderr.join('')), exitCode }, 200);
  });
  app.route('/api/admin', api);
}
