/**
 * What crosses between the main thread and the embedded database's thread. Structured clone
 * carries rows (Dates, bigints, byte arrays) as they are; two things need help: parameters that
 * are objects answering their wire bytes from `toString()` (metering's JSON batches, see
 * metering/repo.ts) and database errors, whose `code`, `detail`, `constraint` … structured clone
 * would drop.
 */
export type ThreadRequest =
  | { id: number; op: 'query'; sql: string; params: unknown[] }
  | { id: number; op: 'exec'; sql: string }
  | { id: number; op: 'close' };

export type ThreadReply =
  | { id: number; ok: true; rows?: Record<string, unknown>[]; affectedRows?: number }
  | { id: number; ok: false; error: WireError };

export interface WireError {
  name: string;
  message: string;
  props: Record<string, unknown>;
}

interface WireBytes {
  tollgateBytes: Uint8Array;
}

const isWireBytes = (v: unknown): v is WireBytes =>
  typeof v === 'object' && v !== null && 'tollgateBytes' in v && v.tollgateBytes instanceof Uint8Array;

/** A plain object with its own `toString` (not a Date, array or byte array). */
const hasOwnToString = (v: unknown): v is { toString(): unknown } =>
  typeof v === 'object' &&
  v !== null &&
  !(v instanceof Date) &&
  !(v instanceof Uint8Array) &&
  !Array.isArray(v) &&
  Object.hasOwn(v, 'toString');

export const toWire = {
  paramsOut(params: readonly unknown[]): unknown[] {
    return params.map((p) => {
      if (!hasOwnToString(p)) return p;
      const value = p.toString();
      return value instanceof Uint8Array ? ({ tollgateBytes: value } satisfies WireBytes) : value;
    });
  },
  paramsIn(params: readonly unknown[]): unknown[] {
    return params.map((p) => (isWireBytes(p) ? { toString: () => p.tollgateBytes } : p));
  },
  error(error: unknown): WireError {
    if (!(error instanceof Error)) return { name: 'Error', message: String(error), props: {} };
    const props: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(error)) {
      if (v === undefined || typeof v === 'function' || (typeof v === 'object' && v !== null)) continue;
      props[k] = v;
    }
    return { name: error.name, message: error.message, props };
  },
};

export function fromWireError(wire: WireError): Error {
  const error = new Error(wire.message);
  error.name = wire.name;
  Object.assign(error, wire.props);
  return error;
}
