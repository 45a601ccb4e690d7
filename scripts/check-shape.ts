/**
 * `npm test`'s shape check: keeps the source in small files of one idea and short functions.
 *
 * - A source file (src/, web/src/, tests excepted) over 400 lines fails.
 * - A function over 80 lines fails unless it is a container of small functions, which this
 *   codebase writes in four known shapes: a module factory (`createX`, `xPort`, `xRepo`,
 *   `xService`), an HTTP route group (`mountXRoutes`, `xRoutes`), a CLI command group
 *   (`registerXCommands`) or a React component (a capitalised name under web/src). Inside those,
 *   each function is held to the same 80 lines.
 * - Any other long function needs its reason in the comment above it, with the words
 *   "80-line rule", "module factory" or "longer than most functions" so the reason can be found.
 *
 * `node scripts/check-shape.ts` prints each finding as `file:line name (n lines)` and exits 1.
 */
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { parse } from '@babel/parser';

const MAX_FILE_LINES = 400;
const MAX_FUNCTION_LINES = 80;
const FUNCTION_TYPES = new Set([
  'FunctionDeclaration',
  'ArrowFunctionExpression',
  'FunctionExpression',
  'ObjectMethod',
  'ClassMethod',
]);
const CONTAINER =
  /^(create[A-Z]\w*|mount\w*Routes|\w+Routes|register\w*Commands|\w+Port|\w+Repo|\w+Service)$/;

interface Node {
  type: string;
  loc: { start: { line: number }; end: { line: number } };
  leadingComments?: { value: string }[];
  id?: { name?: string } | null;
  key?: { name?: string };
  [key: string]: unknown;
}

function sourceFiles(): string[] {
  const listed = execFileSync('git', ['ls-files', 'src', 'web/src'], { encoding: 'utf8' });
  return listed
    .split('\n')
    .filter((f) => /\.tsx?$/.test(f) && !/\.test\.tsx?$/.test(f) && !f.endsWith('.d.ts'));
}

function nameOf(fn: Node, parents: Node[]): string {
  const holder = parents.at(-1);
  return fn.id?.name ?? fn.key?.name ?? holder?.id?.name ?? holder?.key?.name ?? '(anonymous)';
}

/** Comments above the function or the declaration that holds it. */
function commentsOf(fn: Node, parents: Node[]): string {
  return [fn, ...parents.slice(-3)]
    .flatMap((n) => n.leadingComments ?? [])
    .map((c) => c.value)
    .join(' ');
}

function isContainer(file: string, name: string): boolean {
  return CONTAINER.test(name) || (file.startsWith('web/src/') && /^[A-Z]/.test(name));
}

function childrenOf(node: Node): Node[] {
  const out: Node[] = [];
  for (const [key, value] of Object.entries(node)) {
    if (key === 'loc' || key.endsWith('Comments')) continue;
    for (const item of Array.isArray(value) ? value : [value]) {
      if (item && typeof item === 'object' && typeof (item as Node).type === 'string') out.push(item as Node);
    }
  }
  return out;
}

function longFunctions(file: string, text: string): string[] {
  const ast = parse(text, {
    sourceType: 'module',
    plugins: file.endsWith('.tsx') ? ['typescript', 'jsx'] : ['typescript'],
  }) as unknown as { program: Node };
  const found: string[] = [];
  const walk = (node: Node, parents: Node[]) => {
    if (FUNCTION_TYPES.has(node.type)) {
      const lines = node.loc.end.line - node.loc.start.line + 1;
      const name = nameOf(node, parents);
      const explained = /80-line rule|module factory|longer than most functions/i.test(
        commentsOf(node, parents),
      );
      if (lines > MAX_FUNCTION_LINES && !isContainer(file, name) && !explained) {
        found.push(`${file}:${node.loc.start.line} ${name} (${lines} lines)`);
      }
    }
    for (const child of childrenOf(node)) walk(child, [...parents, node]);
  };
  walk(ast.program, []);
  return found;
}

const findings: string[] = [];
for (const file of sourceFiles()) {
  const text = readFileSync(file, 'utf8');
  const lines = text.split('\n').length;
  if (lines > MAX_FILE_LINES) findings.push(`${file} has ${lines} lines (at most ${MAX_FILE_LINES})`);
  findings.push(...longFunctions(file, text));
}
if (findings.length > 0) {
  console.error(`Shape check: ${findings.length} finding(s)\n${findings.map((f) => `  ${f}`).join('\n')}`);
  process.exit(1);
}
console.log('Shape check: every source file ≤ 400 lines, every function ≤ 80 lines or explained.');
