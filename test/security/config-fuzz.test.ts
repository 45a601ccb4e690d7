import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { ConfigError, formatPath, resolveConfig } from '../../src/config/index.ts';
import { testFeatures, testMeters, testPlans } from '../support/catalog.ts';

/**
 * Issue 12, fuzzing of config loading: whatever a config file exports, loading it either gives
 * a config or a ConfigError whose every issue names the path of the bad value — never a crash
 * (TypeError, stack overflow) from code that trusted the shape. Random values are planted at
 * every path of a real config (the test catalog: meters, features, plans with rate cards,
 * phases and entitlements), and whole random objects are loaded too. Fixed seed for the suite;
 * a longer local run: FUZZ_RUNS=10000 npx vitest run test/security
 */
const RUNS = Number(process.env.FUZZ_RUNS ?? 300);
const settings = { seed: 42, numRuns: RUNS };

const base = {
  upstream: 'http://127.0.0.1:1',
  routes: [
    { method: 'POST', path: '/v1/chat/completions', feature: 'chat', models: { 'big-*': 'large_model' } },
  ],
  meters: Object.values(testMeters),
  features: Object.values(testFeatures),
  plans: Object.values(testPlans),
  scaleOut: { usageStreamLimits: { maxBytes: '1GiB', maxAge: 'P1D' } },
};

type Path = (string | number)[];
/** Every path in a JSON-like value (objects and arrays), the root excluded. */
function pathsOf(value: unknown, prefix: Path = []): Path[] {
  if (value === null || typeof value !== 'object') return [];
  const entries: [string | number, unknown][] = Array.isArray(value)
    ? value.map((v, i) => [i, v])
    : Object.entries(value as Record<string, unknown>);
  return entries.flatMap(([key, child]) => [[...prefix, key], ...pathsOf(child, [...prefix, key])]);
}
const PATHS = pathsOf(base);

function plant(path: Path, replacement: unknown, remove: boolean): unknown {
  const copy = structuredClone(base) as Record<string | number, unknown>;
  let node = copy;
  for (const key of path.slice(0, -1)) node = node[key] as Record<string | number, unknown>;
  const last = path[path.length - 1] as string | number;
  if (remove) delete node[last];
  else node[last] = replacement;
  return copy;
}

/** Hostile values: wrong types, huge and odd numbers, prototype keys, deep nesting, long strings. */
const hostile = fc.oneof(
  fc.anything({ maxDepth: 3 }),
  fc.constantFrom(
    Number.NaN,
    Number.POSITIVE_INFINITY,
    -1,
    1e308,
    '',
    '__proto__',
    'P1M',
    'P',
    '$.',
    '10ZB',
    '-0.00',
    [],
    {},
    null,
  ),
  fc.string({ maxLength: 2000 }),
  fc.integer().map((depth) => {
    let nested: unknown = {};
    for (let i = 0; i < (Math.abs(depth) % 2000) + 1; i++) nested = { a: nested };
    return nested;
  }),
);

function loadsOrNamesThePath(input: unknown): void {
  try {
    resolveConfig(input, 'tollgate.config.ts', process.cwd());
  } catch (error) {
    if (!(error instanceof ConfigError)) throw error;
    expect(error.issues.length).toBeGreaterThan(0);
    for (const issue of error.issues) {
      expect(issue.message.length).toBeGreaterThan(0);
      // Only a non-object root has no path to name.
      if (input !== null && typeof input === 'object' && !Array.isArray(input)) {
        expect(issue.path.length).toBeGreaterThan(0);
      }
    }
  }
}

describe('config loading (property-based, fixed seed)', () => {
  it('the test catalog loads as it is', () => {
    expect(() => resolveConfig(base, 'tollgate.config.ts', process.cwd())).not.toThrow();
  });

  it('a hostile value at any path, or a removed key, gives a ConfigError naming a path, never a crash', () => {
    fc.assert(
      fc.property(fc.constantFrom(...PATHS), hostile, fc.boolean(), (path, value, remove) => {
        loadsOrNamesThePath(plant(path, value, remove));
      }),
      settings,
    );
  });

  it('whole random objects give a config or a ConfigError, never a crash', () => {
    fc.assert(
      fc.property(
        fc.oneof(
          fc.anything({ maxDepth: 4 }),
          fc.record(
            { upstream: hostile, meters: hostile, features: hostile, plans: hostile, routes: hostile },
            {
              requiredKeys: [],
            },
          ),
        ),
        loadsOrNamesThePath,
      ),
      settings,
    );
  });

  it('names the exact field of a planted mistake, and an unknown key by its own path', () => {
    const issuesOf = (input: unknown) => {
      try {
        resolveConfig(input, 'f.ts', '/');
      } catch (e) {
        return (e as ConfigError).issues.map((i) => i.path);
      }
      return [];
    };
    const amount = PATHS.find((p) => p[0] === 'plans' && p.at(-1) === 'amount') as Path;
    expect(issuesOf(plant(amount, 12.5, false))).toEqual([formatPath(amount)]);
    const rateCard = amount.slice(0, amount.indexOf('price')) as Path;
    expect(issuesOf(plant([...rateCard, 'pricee'], {}, false))).toEqual([
      formatPath([...rateCard, 'pricee']),
    ]);
  });
});
