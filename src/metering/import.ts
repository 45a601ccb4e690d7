import { createHash } from 'node:crypto';
import { createReadStream, existsSync, mkdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { isProblemError } from '../http/problem.ts';
import type { Clock } from '../util/clock.ts';
import type { UsageEvent } from './events.ts';
import { type IngestService, parseCloudEvents } from './service.ts';

/**
 * `tollgate usage import <file>`: NDJSON (one CloudEvent per line) or CSV with the columns
 * id,source,type,subject,time,data (data is a JSON object). Batches are all-or-nothing: a bad line
 * stops the import with its line number and nothing of its batch is stored. After each committed
 * batch the byte offset reached is saved in `<dataDir>/imports/`, so running the command again
 * resumes there; and since ingest dedupes on (source, id), re-importing a file counts nothing twice.
 */
export interface ImportProgress {
  bytesDone: number;
  bytesTotal: number;
  lines: number;
  imported: number;
}

export interface ImportResult extends ImportProgress {
  resumedFrom: number;
  /** Events already stored before (same source + id): not counted again. */
  duplicates: number;
}

export class ImportError extends Error {
  readonly problems: { line: number; message: string }[];
  constructor(file: string, problems: { line: number; message: string }[]) {
    super(
      `${file}: ${problems.length} bad line${problems.length > 1 ? 's' : ''}; nothing of that batch was imported ` +
        `(earlier batches were, and a rerun resumes after them):\n` +
        problems
          .slice(0, 20)
          .map((p) => `  line ${p.line}: ${p.message}`)
          .join('\n'),
    );
    this.name = 'ImportError';
    this.problems = problems;
  }
}

interface ImportState {
  file: string;
  size: number;
  offset: number;
  line: number;
  imported: number;
  header?: string[];
}

/** Splits one CSV record (RFC 4180 quoting; fields do not span lines). */
export function parseCsvLine(line: string): string[] {
  const fields: string[] = [];
  let i = 0;
  while (i <= line.length) {
    if (line[i] === '"') {
      let value = '';
      i += 1;
      for (;;) {
        const q = line.indexOf('"', i);
        if (q === -1) throw new Error('unterminated quoted field');
        value += line.slice(i, q);
        if (line[q + 1] === '"') {
          value += '"';
          i = q + 2;
        } else {
          i = q + 1;
          break;
        }
      }
      fields.push(value);
      if (i < line.length && line[i] !== ',') throw new Error('unexpected text after a quoted field');
      i += 1;
    } else {
      const comma = line.indexOf(',', i);
      const end = comma === -1 ? line.length : comma;
      fields.push(line.slice(i, end));
      i = end + 1;
    }
  }
  return fields;
}

const CSV_COLUMNS = ['id', 'source', 'type', 'subject', 'time', 'data'];

function csvRecord(header: string[], line: string): Record<string, unknown> {
  const fields = parseCsvLine(line);
  if (fields.length !== header.length) {
    throw new Error(`expected ${header.length} columns (${header.join(',')}), found ${fields.length}`);
  }
  const record: Record<string, unknown> = { specversion: '1.0' };
  header.forEach((column, i) => {
    const value = fields[i] as string;
    if (column === 'data') {
      if (value.trim() === '') return;
      try {
        record.data = JSON.parse(value);
      } catch {
        throw new Error('the data column is not valid JSON');
      }
    } else if (value !== '' || column !== 'time') {
      record[column] = value;
    }
  });
  return record;
}

export async function importUsageFile(options: {
  file: string;
  dataDir: string;
  ingest: Pick<IngestService, 'write'>;
  clock: Clock;
  format?: 'ndjson' | 'csv';
  batchSize?: number;
  /** Ignore the saved offset and read the file from the start (dedupe still applies). */
  restart?: boolean;
  onProgress?: (progress: ImportProgress) => void;
}): Promise<ImportResult> {
  const path = resolve(options.file);
  if (!existsSync(path)) throw new Error(`no such file: ${path}`);
  const size = statSync(path).size;
  const format = options.format ?? (path.toLowerCase().endsWith('.csv') ? 'csv' : 'ndjson');
  const batchSize = options.batchSize ?? 5_000;
  const stateDir = join(options.dataDir, 'imports');
  mkdirSync(stateDir, { recursive: true });
  const stateFile = join(stateDir, `${createHash('sha256').update(path).digest('hex').slice(0, 24)}.json`);
  let state: ImportState = { file: path, size, offset: 0, line: 0, imported: 0 };
  if (!options.restart && existsSync(stateFile)) {
    const saved = JSON.parse(readFileSync(stateFile, 'utf8')) as ImportState;
    // A file that shrank was replaced: start over (dedupe keeps a rerun exact anyway).
    if (saved.offset <= size) state = { ...saved, size };
  }
  const resumedFrom = state.offset;
  const save = () => writeFileSync(stateFile, `${JSON.stringify(state)}\n`);

  let header = state.header;
  let lineNo = state.line;
  let bytesDone = state.offset;
  let imported = 0;
  let duplicates = 0;
  let batch: { line: number; record: unknown; bytesAfter: number }[] = [];
  const problems: { line: number; message: string }[] = [];

  const flush = async () => {
    if (batch.length === 0) return;
    const lines = batch.map((b) => b.line);
    let events: UsageEvent[];
    try {
      // Records come from NDJSON or CSV: search them for U+0000 (the store cannot hold it).
      events = parseCloudEvents(
        batch.map((b) => b.record),
        () => options.clock.now(),
        true,
      );
      const { inserted } = await options.ingest.write(events, { strict: 'all' });
      imported += inserted;
      duplicates += events.length - inserted;
    } catch (error) {
      if (!isProblemError(error)) throw error;
      const errors = (error.extensions.errors ?? []) as { path: string; message: string }[];
      for (const e of errors) {
        const m = /^\[(\d+)\]\.?(.*)$/.exec(e.path);
        const index = m ? Number(m[1]) : 0;
        problems.push({ line: lines[index] ?? 0, message: m?.[2] ? `${m[2]}: ${e.message}` : e.message });
      }
      throw new ImportError(path, problems);
    }
    const last = batch[batch.length - 1] as (typeof batch)[number];
    state = {
      ...state,
      offset: last.bytesAfter,
      line: last.line,
      imported: state.imported + imported,
      header,
    };
    imported = 0;
    save();
    batch = [];
    options.onProgress?.({
      bytesDone: last.bytesAfter,
      bytesTotal: size,
      lines: last.line,
      imported: state.imported,
    });
  };

  const stream = createReadStream(path, { start: state.offset });
  let rest = Buffer.alloc(0);
  let position = state.offset;
  for await (const chunk of stream as AsyncIterable<Buffer>) {
    let data = rest.length ? Buffer.concat([rest, chunk]) : chunk;
    let start = 0;
    for (let nl = data.indexOf(10, start); nl !== -1; nl = data.indexOf(10, start)) {
      const raw = data.toString('utf8', start, nl).replace(/\r$/, '');
      const bytesAfter = position + nl + 1;
      start = nl + 1;
      lineNo += 1;
      if (raw.trim() === '') continue;
      let record: unknown;
      try {
        if (format === 'csv') {
          if (!header) {
            header = parseCsvLine(raw).map((h) => h.trim());
            const missing = CSV_COLUMNS.filter((c) => c !== 'time' && c !== 'data' && !header?.includes(c));
            if (missing.length)
              throw new Error(
                `the header needs the columns ${CSV_COLUMNS.join(',')}; missing ${missing.join(', ')}`,
              );
            state = { ...state, header, offset: bytesAfter, line: lineNo };
            save();
            continue;
          }
          record = csvRecord(header, raw);
        } else {
          record = JSON.parse(raw);
        }
      } catch (error) {
        problems.push({ line: lineNo, message: (error as Error).message });
        continue;
      }
      batch.push({ line: lineNo, record, bytesAfter });
      if (batch.length >= batchSize) {
        if (problems.length) throw new ImportError(path, problems);
        await flush();
      }
    }
    position += start;
    data = data.subarray(start);
    rest = Buffer.from(data);
  }
  if (rest.length && rest.toString('utf8').trim() !== '') {
    // A last line without a newline.
    lineNo += 1;
    try {
      const raw = rest.toString('utf8').replace(/\r$/, '');
      batch.push({
        line: lineNo,
        record: format === 'csv' && header ? csvRecord(header, raw) : JSON.parse(raw),
        bytesAfter: position + rest.length,
      });
    } catch (error) {
      problems.push({ line: lineNo, message: (error as Error).message });
    }
  }
  if (problems.length) throw new ImportError(path, problems);
  await flush();
  bytesDone = state.offset;
  return {
    bytesDone,
    bytesTotal: size,
    lines: state.line,
    imported: state.imported,
    resumedFrom,
    duplicates,
  };
}
