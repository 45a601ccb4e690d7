import {
  closeSync,
  existsSync,
  fdatasync,
  fdatasyncSync,
  fstatSync,
  ftruncateSync,
  mkdirSync,
  openSync,
  readdirSync,
  readSync,
  writeSync,
} from 'node:fs';
import { join } from 'node:path';
import type { Logger } from '../util/log.ts';
import type { UsageEvent, UsageLog } from './events.ts';

/**
 * The embedded UsageLog: an append-only log of NDJSON segment files under `<dataDir>/usage-log/`,
 * each named after the sequence number of its first event (`00000000000000000042.ndjson`).
 *
 * Durability, in two steps:
 * - `append` writes the events with one synchronous `write(2)` before it returns, so they are in
 *   the operating system's page cache before the gateway finishes the client's response: killing
 *   the process (even `kill -9`) right after loses nothing.
 * - The file is fsynced by group commit, at most `fsyncIntervalMs` (default 5 ms) after a write.
 *   A power loss or kernel crash can therefore lose the last few milliseconds of events, unless
 *   `fsync: 'always'` (every append is fsynced before it returns; much slower under load).
 *
 * A torn last line (power loss in the middle of a write) is cut off when the log is reopened.
 */
export interface EmbeddedUsageLogOptions {
  dir: string;
  fsync?: 'batch' | 'always';
  fsyncIntervalMs?: number;
  /** Start a new segment file after this many bytes. Default 64 MiB. */
  segmentBytes?: number;
  log?: Logger;
}

export interface EmbeddedUsageLog extends UsageLog {
  readonly dir: string;
  /** Sequence number the next appended event gets (= events ever appended). */
  readonly nextSeq: number;
  /** Called after each append (the in-process consumer reads right away instead of polling). */
  onAppend(listener: () => void): () => void;
}

const SEGMENT_RE = /^(\d{20})\.ndjson$/;
export const segmentName = (base: number) => `${String(base).padStart(20, '0')}.ndjson`;

/** Segment base sequence numbers in the directory, ascending. */
export function listSegments(dir: string): number[] {
  if (!existsSync(dir)) return [];
  return readdirSync(dir)
    .map((f) => SEGMENT_RE.exec(f))
    .filter((m): m is RegExpExecArray => m !== null)
    .map((m) => Number(m[1]))
    .sort((a, b) => a - b);
}

/** Counts complete lines and finds where the last complete line ends. */
function scanSegment(fd: number): { lines: number; validBytes: number; size: number } {
  const size = fstatSync(fd).size;
  const buf = Buffer.allocUnsafe(1 << 20);
  let lines = 0;
  let validBytes = 0;
  let pos = 0;
  while (pos < size) {
    const n = readSync(fd, buf, 0, buf.length, pos);
    if (n <= 0) break;
    let i = buf.indexOf(10, 0);
    while (i !== -1 && i < n) {
      lines += 1;
      validBytes = pos + i + 1;
      i = buf.indexOf(10, i + 1);
    }
    pos += n;
  }
  return { lines, validBytes, size };
}

/** Opens the newest segment for appending, cutting off a torn last line left by a crash. */
function openLastSegment(
  dir: string,
  log: EmbeddedUsageLogOptions['log'],
): { base: number; fd: number; scan: ReturnType<typeof scanSegment> } {
  const base = listSegments(dir).at(-1) ?? 0;
  const fd = openSync(join(dir, segmentName(base)), 'a+');
  const scan = scanSegment(fd);
  if (scan.validBytes < scan.size) {
    log?.warn(
      { segment: segmentName(base), bytes: scan.size - scan.validBytes },
      'usage log: cut off a torn last line (the process or machine stopped mid-write)',
    );
    ftruncateSync(fd, scan.validBytes);
  }
  return { base, fd, scan };
}

export function openEmbeddedUsageLog(options: EmbeddedUsageLogOptions): EmbeddedUsageLog {
  const dir = options.dir;
  const segmentBytes = options.segmentBytes ?? 64 * 1024 * 1024;
  const fsyncIntervalMs = options.fsyncIntervalMs ?? 5;
  const always = options.fsync === 'always';
  mkdirSync(dir, { recursive: true });

  const last = openLastSegment(dir, options.log);
  let base = last.base;
  let fd = last.fd;
  const scan = last.scan;
  let nextSeq = base + scan.lines;
  let bytes = scan.validBytes;
  let closed = false;
  let dirty = false;
  let syncTimer: NodeJS.Timeout | null = null;
  let syncing = false;
  const listeners = new Set<() => void>();

  const syncNow = () => {
    syncTimer = null;
    if (!dirty || closed) return;
    if (syncing) {
      syncTimer = setTimeout(syncNow, fsyncIntervalMs);
      return;
    }
    dirty = false;
    syncing = true;
    const target = fd;
    fdatasync(target, (error) => {
      syncing = false;
      if (error && !closed) options.log?.error({ err: error }, 'usage log: fsync failed');
    });
  };

  const roll = () => {
    fdatasyncSync(fd);
    closeSync(fd);
    base = nextSeq;
    fd = openSync(join(dir, segmentName(base)), 'a+');
    bytes = 0;
  };

  return {
    dir,
    get nextSeq() {
      return nextSeq;
    },
    onAppend(listener) {
      listeners.add(listener);
      return () => listeners.delete(listener);
    },
    append(events: readonly UsageEvent[]) {
      if (closed) throw new Error('usage log is closed');
      if (events.length === 0) return;
      let text = '';
      for (const event of events) text += `${JSON.stringify(event)}\n`;
      const buf = Buffer.from(text);
      let written = 0;
      while (written < buf.length) written += writeSync(fd, buf, written, buf.length - written);
      nextSeq += events.length;
      bytes += buf.length;
      if (always) fdatasyncSync(fd);
      else {
        dirty = true;
        if (!syncTimer) syncTimer = setTimeout(syncNow, fsyncIntervalMs);
      }
      if (bytes >= segmentBytes) roll();
      for (const listener of listeners) listener();
    },
    async close() {
      if (closed) return;
      if (syncTimer) clearTimeout(syncTimer);
      fdatasyncSync(fd);
      closed = true;
      closeSync(fd);
    },
  };
}
