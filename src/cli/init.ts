import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { basename, dirname, join, resolve } from 'node:path';
import { createInterface } from 'node:readline/promises';
import type { Command } from 'commander';
import pc from 'picocolors';
import { parse as parseYaml } from 'yaml';
import { CliError } from './errors.ts';
import { operationsOf, renderConfig, upstreamOf } from './init-template.ts';

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

interface LoadedDocument {
  /** The path the config names. */
  file: string;
  document: Record<string, unknown>;
  /** A downloaded document, written into the project only once everything else is checked. */
  download?: { path: string; text: string; source: string };
}

/**
 * The document as the config will name it: a local file stays where it is (relative path); a URL
 * is downloaded into the project (the config reads a file), never over a different file.
 */
async function loadDocument(source: string, projectDir: string): Promise<LoadedDocument> {
  if (/^https?:\/\//.test(source)) {
    let text: string;
    try {
      const response = await fetch(source, { signal: AbortSignal.timeout(15_000) });
      if (!response.ok) throw new Error(`HTTP ${response.status}`);
      text = await response.text();
    } catch (error) {
      const cause = (error as { cause?: { code?: unknown } }).cause?.code;
      const reason = `${(error as Error).message}${typeof cause === 'string' ? ` (${cause})` : ''}`;
      throw new CliError(`--openapi: cannot download ${source}: ${reason}`);
    }
    const document = parseDocument(text, source);
    const name = text.trimStart().startsWith('{') ? 'openapi.json' : 'openapi.yaml';
    const target = join(projectDir, name);
    if (existsSync(target) && readFileSync(target, 'utf8') !== text) {
      throw new CliError(
        `--openapi: ${name} exists already and differs from ${source}; give its path instead, or move it away to download the document`,
      );
    }
    return { file: `./${name}`, document, download: { path: target, text, source } };
  }
  // Typed at the shell's prompt, so relative to where the command runs.
  const path = resolve(source);
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
  let openapi = opts.openapi ?? (found ? `./${found}` : '');
  if (interactive && opts.openapi === undefined)
    openapi = await ask('Your API’s OpenAPI document (path or URL)?', openapi);
  // Check a given upstream before anything is downloaded or written.
  if (opts.upstream !== undefined) checkUpstream(opts.upstream);

  const loaded = openapi ? await loadDocument(openapi, projectDir) : undefined;
  const document = loaded?.document ?? {};
  const operations = operationsOf(document);
  let upstream = opts.upstream ?? upstreamOf(document, DEFAULT_UPSTREAM) ?? DEFAULT_UPSTREAM;
  if (interactive && opts.upstream === undefined)
    upstream = await ask('Its URL (the upstream the gateway calls)?', upstream);
  upstream = checkUpstream(upstream);
  if (loaded?.download) {
    writeFileSync(loaded.download.path, loaded.download.text);
    console.log(`${pc.green('wrote')} ${loaded.file.slice(2)} ${pc.dim(`(from ${loaded.download.source})`)}`);
  }
  const documentFile = loaded?.file;
  const name = opts.name ?? projectName(projectDir);
  writeFileSync(configFile, renderConfig({ name, upstream, openapi: documentFile, operations }));
  console.log(
    `${pc.green('wrote')} ${basename(configFile)} ${pc.dim(
      `(${operations.length ? `${operations.length} route${operations.length === 1 ? '' : 's'} from ${documentFile}` : 'every path'} to ${upstream}; plans Free and Pro)`,
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
    .option(
      '--upstream <url>',
      `your API's URL (default: the OpenAPI document's first server, else ${DEFAULT_UPSTREAM})`,
    )
    .option('--openapi <path|url>', 'its OpenAPI document (default: ./openapi.yaml or .json if present)')
    .option('--name <name>', "the API's name in the portal (default: package.json name)")
    .option('-y, --yes', 'take the defaults without asking')
    .option('--force', 'replace an existing config file')
    .action(async (opts: InitOptions, command: Command) => {
      const configFile = resolve((command.optsWithGlobals() as { config: string }).config);
      await runInit(configFile, opts);
    });
}
