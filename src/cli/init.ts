import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { basename, dirname, join, resolve } from 'node:path';
import { createInterface } from 'node:readline/promises';
import type { Command } from 'commander';
import pc from 'picocolors';
import { parse as parseYaml } from 'yaml';
import { CliError } from './errors.ts';
import { type Operation, operationsOf, renderConfig } from './init-template.ts';

/**
 * `tollgate init`: in the user's own project, writes `tollgate.config.ts` for their API (routes
 * from its OpenAPI operations, a Free plan and a paid plan), adds `.tollgate/` to `.gitignore`
 * and prints the next command. Asks for the upstream URL and the OpenAPI document (a path or a
 * URL) unless given as flags or `--yes` takes the defaults.
 */
const DEFAULT_UPSTREAM = 'http://127.0.0.1:3000';
const DOCUMENT_NAMES = ['openapi.yaml', 'openapi.yml', 'openapi.json', 'swagger.yaml', 'swagger.json'];

interface InitOptions {
  upstream?: string;
  openapi?: string;
  name?: string;
  yes?: boolean;
  force?: boolean;
}

function checkUpstream(value: string): string {
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    throw new CliError(`--upstream must be a URL such as ${DEFAULT_UPSTREAM}, got "${value}"`);
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') {
    throw new CliError(`--upstream must be an http:// or https:// URL, got "${value}"`);
  }
  return value.replace(/\/+$/, '');
}

async function ask(question: string, fallback: string): Promise<string> {
  const rl = createInterface({ input: process.stdin, output: process.stdout });
  try {
    const answer = (await rl.question(`${question} ${pc.dim(`(${fallback || 'none'})`)} `)).trim();
    return answer || fallback;
  } finally {
    rl.close();
  }
}

function parseDocument(text: string, where: string): Record<string, unknown> {
  try {
    const parsed = (text.trimStart().startsWith('{') ? JSON.parse(text) : parseYaml(text)) as unknown;
    if (parsed && typeof parsed === 'object' && 'paths' in parsed) return parsed as Record<string, unknown>;
  } catch (error) {
    throw new CliError(`--openapi: cannot parse ${where}: ${(error as Error).message}`);
  }
  throw new CliError(`--openapi: ${where} is not an OpenAPI document (it has no "paths")`);
}

/**
 * The document as the config will name it: a local file stays where it is (relative path); a URL
 * is downloaded once into the project, since the config reads a file.
 */
async function loadDocument(
  source: string,
  projectDir: string,
): Promise<{ file: string; document: Record<string, unknown> }> {
  if (/^https?:\/\//.test(source)) {
    let text: string;
    try {
      const response = await fetch(source, { signal: AbortSignal.timeout(15_000) });
      if (!response.ok) throw new Error(`HTTP ${response.status}`);
      text = await response.text();
    } catch (error) {
      throw new CliError(`--openapi: cannot download ${source}: ${(error as Error).message}`);
    }
    const document = parseDocument(text, source);
    const name = text.trimStart().startsWith('{') ? 'openapi.json' : 'openapi.yaml';
    writeFileSync(join(projectDir, name), text);
    console.log(`${pc.green('wrote')} ${name} ${pc.dim(`(from ${source})`)}`);
    return { file: `./${name}`, document };
  }
  const path = resolve(projectDir, source);
  if (!existsSync(path)) throw new CliError(`--openapi: no file at ${path}`);
  const relative = path.startsWith(`${projectDir}/`) ? `./${path.slice(projectDir.length + 1)}` : path;
  return { file: relative, document: parseDocument(readFileSync(path, 'utf8'), path) };
}

function addToGitignore(projectDir: string): boolean {
  const file = join(projectDir, '.gitignore');
  const text = existsSync(file) ? readFileSync(file, 'utf8') : '';
  if (text.split('\n').some((line) => line.trim() === '.tollgate/' || line.trim() === '.tollgate'))
    return false;
  const lines = '# Tollgate: embedded store, usage log and the generated admin token\n.tollgate/\n';
  writeFileSync(file, text && !text.endsWith('\n') ? `${text}\n${lines}` : `${text}${lines}`);
  return true;
}

function projectName(projectDir: string): string {
  const pkg = join(projectDir, 'package.json');
  if (existsSync(pkg)) {
    try {
      const name = (JSON.parse(readFileSync(pkg, 'utf8')) as { name?: unknown }).name;
      if (typeof name === 'string' && name) return name.replace(/^@[^/]+\//, '');
    } catch {
      // a broken package.json is not ours to report
    }
  }
  return basename(projectDir);
}

export async function runInit(configFile: string, opts: InitOptions): Promise<void> {
  const projectDir = dirname(configFile);
  if (existsSync(configFile) && !opts.force) {
    throw new CliError(`${configFile} exists already; edit it, or run init with --force to replace it`);
  }
  const interactive = !opts.yes && process.stdin.isTTY === true;
  const found = DOCUMENT_NAMES.find((name) => existsSync(join(projectDir, name)));
  let upstream = opts.upstream ?? DEFAULT_UPSTREAM;
  let openapi = opts.openapi ?? (found ? `./${found}` : '');
  if (interactive && opts.upstream === undefined)
    upstream = await ask('Your API’s URL (the upstream)?', upstream);
  if (interactive && opts.openapi === undefined)
    openapi = await ask('Its OpenAPI document (path or URL)?', openapi);
  upstream = checkUpstream(upstream);

  let operations: Operation[] = [];
  let documentFile: string | undefined;
  if (openapi) {
    const loaded = await loadDocument(openapi, projectDir);
    documentFile = loaded.file;
    operations = operationsOf(loaded.document);
  }
  const name = opts.name ?? projectName(projectDir);
  writeFileSync(configFile, renderConfig({ name, upstream, openapi: documentFile, operations }));
  console.log(
    `${pc.green('wrote')} ${basename(configFile)} ${pc.dim(
      `(${operations.length ? `${operations.length} route${operations.length === 1 ? '' : 's'} from ${documentFile}` : 'every path of the upstream'}; plans Free and Pro)`,
    )}`,
  );
  if (addToGitignore(projectDir)) console.log(`${pc.green('added')} .tollgate/ to .gitignore`);
  console.log(`\nNext: ${pc.bold('npx tollgate dev')}  ${pc.dim('(gateway, portal and sandbox payments)')}`);
}

export function registerInitCommand(program: Command): void {
  program
    .command('init')
    .description(
      'write tollgate.config.ts for your API (routes from its OpenAPI document, a Free and a Pro plan)',
    )
    .option('--upstream <url>', `your API's URL (default ${DEFAULT_UPSTREAM})`)
    .option('--openapi <path|url>', 'its OpenAPI document (default: ./openapi.yaml or .json if present)')
    .option('--name <name>', "the API's name in the portal (default: package.json name)")
    .option('-y, --yes', 'take the defaults without asking')
    .option('--force', 'replace an existing config file')
    .action(async (opts: InitOptions, command: Command) => {
      const configFile = resolve((command.optsWithGlobals() as { config: string }).config);
      await runInit(configFile, opts);
    });
}
