/**
 * The one JSONPath reader of Tollgate: meters' `valueProperty` and `groupBy` paths are read with
 * it by metering (what is stored and billed), by the gateway (hard quotas and prepaid-credit
 * charges taken in the request path) and therefore by billing, which reads metering's values. Two
 * readers once disagreed on `$.usage[0].tokens` (one split on "." and dropped the index), so the
 * gateway checked a quota against another number than the invoice billed.
 *
 * The grammar is what the config accepts (`config/schema/primitives.ts`): `$` followed by one or more
 * `.name` (a letter or `_`, then letters, digits, `_` or `-`) or `[n]` (an array index). A path is
 * compiled once into an accessor; applying it walks the steps without parsing anything.
 */

export type JsonPathStep = string | number;

export type JsonPathAccessor = (data: unknown) => unknown;

/** The syntax the config accepts for a meter's JSONPaths. */
export const JSON_PATH_PATTERN = /^\$(\.[A-Za-z_][\w-]*|\[\d+\])+$/;

const STEP = /\.([A-Za-z_][\w-]*)|\[(\d+)\]/y;

/** `$.a[0].b` → `['a', 0, 'b']`; throws a clear error for anything the config would refuse. */
export function parseJsonPath(path: string): JsonPathStep[] {
  if (!JSON_PATH_PATTERN.test(path)) {
    throw new Error(`"${path}" is not a JSONPath such as "$.tokens" or "$.usage[0].tokens"`);
  }
  const steps: JsonPathStep[] = [];
  STEP.lastIndex = 1;
  for (let m = STEP.exec(path); m !== null; m = STEP.exec(path)) {
    steps.push(m[1] !== undefined ? m[1] : Number(m[2]));
  }
  return steps;
}

function hasOwn(value: object, step: JsonPathStep): boolean {
  return Object.hasOwn(value, step);
}

/**
 * Reads one step of a path. Own properties only, so `$.constructor` or `$.__proto__` read
 * nothing from a plain event; an index reads arrays only and a name reads objects only.
 */
function stepInto(current: unknown, step: JsonPathStep): unknown {
  if (current === null || typeof current !== 'object') return undefined;
  if (typeof step === 'number') return Array.isArray(current) ? current[step] : undefined;
  if (Array.isArray(current) || !hasOwn(current, step)) return undefined;
  return (current as Record<string, unknown>)[step];
}

const compiled = new Map<string, JsonPathAccessor>();

/** The accessor of a path, compiled once per distinct path (config reloads reuse it). */
export function compileJsonPath(path: string): JsonPathAccessor {
  let accessor = compiled.get(path);
  if (accessor !== undefined) return accessor;
  const steps = parseJsonPath(path);
  if (steps.length === 1) {
    const only = steps[0] as JsonPathStep;
    accessor = (data) => stepInto(data, only);
  } else {
    accessor = (data) => {
      let current: unknown = data;
      for (let i = 0; i < steps.length && current !== undefined; i++) {
        current = stepInto(current, steps[i] as JsonPathStep);
      }
      return current;
    };
  }
  compiled.set(path, accessor);
  return accessor;
}
