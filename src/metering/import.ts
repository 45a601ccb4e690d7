import { createHash } from 'node:crypto';
import { createReadStream, existsSync, mkdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { type Info, parse } from 'csv-parse';
import { DEFAULT_JSON_DEPTH, jsonDepth } from '../http/json-depth.ts';
import { isProblemError } from '../http/problem.ts';
import type { Clock } from '../util/clock.ts';
import { parseCloudEvents } from './cloud-events.ts';
import type { UsageEvent } from './events.ts';
import type { IngestService } from './service.ts';

/**
 * `tollgate usage import <file>`: NDJSON (one CloudEvent per line) or CSV with the columns
 * id,source,type,subject,time,data (data is a JSON object; RFC 4180 quoting, read by csv-parse). Batches are all-or-nothing: a bad line
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

const CSV_COLUMNS = ['id', 'source', 'type', 'subject', 'time', 'data'];

/** One record of the file: where it ends (line, byte offset after it) and its content. */
interface FileRecord<T> {
  line: number;
  bytesAfter: number;
  content: T;
}

/** NDJSON lines from byte `start` on (`firstLine` lines were read before it). */
async function* ndjsonLines(
  path: string,
  start: number,
  firstLine: number,
): AsyncGenerator<FileRecord<string>> {
  let rest = Buffer.alloc(0);
  let position = start;
  let line = firstLine;
  for await (const chunk of createReadStream(path, { start }) as AsyncIterable<Buffer>) {
    const data = rest.length ? Buffer.concat([rest, chunk]) : chunk;
    let from = 0;
    for (let nl = data.indexOf(10, from); nl !== -1; nl = data.indexOf(10, from)) {
      const text = data.toString('utf8', from, nl).replace(/\r$/, '');
      line += 1;
      from = nl + 1;
      if (text.trim() !== '') yield { line, bytesAfter: position + from, content: text };
    }
    position += from;
    rest = Buffer.from(data.subarray(from));
  }
  // A last line without a newline.
  if (rest.length && rest.toString('utf8').trim() !== '') {
    yield { line: line + 1, bytesAfter: position + rest.length, content: rest.toString('utf8') };
  }
}

/**
 * CSV records from byte `start` on, parsed by csv-parse (RFC 4180: quoted fields may hold commas,
 * quotes and newlines). `info.bytes` is the offset just after each record's delimiter, so a
 * resumed import starts exactly at a record boundary.
 */
async function* csvRecords(
  path: string,
  start: number,
  firstLine: number,
): AsyncGenerator<FileRecord<string[]>> {
  const parser = createReadStream(path, { start }).pipe(
    parse({
      info: true,
      bom: start === 0,
      skip_empty_lines: true,
      relax_column_count: true,
      record_delimiter: ['\r\n', '\n'],
    }),
  );
  try {
    for await (const { record, info } of parser as AsyncIterable<{ record: string[]; info: Info }>) {
      yield { line: firstLine + info.lines, bytesAfter: start + info.bytes, content: record };
    }
  } catch (error) {
    const lines = (error as { lines?: number }).lines ?? 0;
    throw new ImportError(path, [{ line: firstLine + lines, message: (error as Error).message }]);
  }
}

/** A JSON text as an event, refusing nesting deeper than ingest accepts over HTTP. */
function jsonRecord(text: string, what: string): unknown {
  if (jsonDepth(text, DEFAULT_JSON_DEPTH) > DEFAULT_JSON_DEPTH) {
    throw new Error(`${what} nests deeper than ${DEFAULT_JSON_DEPTH} levels`);
  }
  try {
    return JSON.parse(text);
  } catch {
    throw new Error(`${what} is not valid JSON`);
  }
}

function csvRecord(header: string[], fields: string[]): Record<string, unknown> {
  if (fields.length !== header.length) {
    throw new Error(`expected ${header.length} columns (${header.join(',')}), found ${fields.length}`);
  }
  const record: Record<string, unknown> = { specversion: '1.0' };
  header.forEach((column, i) => {
    const value = fields[i] as string;
    if (column === 'data') {
      if (value.trim() !== '') record.data = jsonRecord(value, 'the data column');
    } else if (value !== '' || column !== 'time') {
      record[column] = value;
    }
  });
  return record;
}

function checkHeader(header: string[]): void {
  const missing = CSV_COLUMNS.filter((c) => c !== 'time' && c !== 'data' && !header.includes(c));
  if (missing.length) {
    throw new Error(`the header needs the columns ${CSV_COLUMNS.join(',')}; missing ${missing.join(', ')}`);
  }
}

export interface ImportUsageFileOptions {
  file: string;
  dataDir: string;
  ingest: Pick<IngestService, 'write'>;
  clock: Clock;
  format?: 'ndjson' | 'csv';
  batchSize?: number;
  /** Ignore the saved offset and read the file from the start (dedupe still applies). */
  restart?: boolean;
  onProgress?: (progress: ImportProgress) => void;
}

/** Where an import of `path` keeps its progress, and the progress saved by an earlier run. */
function savedImportState(
  options: ImportUsageFileOptions,
  path: string,
  size: number,
): { stateFile: string; state: ImportState } {
  const stateDir = join(options.dataDir, 'imports');
  mkdirSync(stateDir, { recursive: true });
  const stateFile = join(stateDir, `${createHash('sha256').update(path).digest('hex').slice(0, 24)}.json`);
  let state: ImportState = { file: path, size, offset: 0, line: 0, imported: 0 };
  if (!options.restart && existsSync(stateFile)) {
    const saved = JSON.parse(readFileSync(stateFile, 'utf8')) as ImportState;
    // A file that shrank was replaced: start over (dedupe keeps a rerun exact anyway).
    if (saved.offset <= size) state = { ...saved, size };
  }
  return { stateFile, state };
}

/**
 * Writes one batch of records; a batch the ingest rejects adds its problems (with file line
 * numbers) to `problems` and fails the import.
 */
async function writeImportBatch(
  batch: readonly { line: number; record: unknown }[],
  options: ImportUsageFileOptions,
  path: string,
  problems: { line: number; message: string }[],
): Promise<{ inserted: number; events: number }> {
  const lines = batch.map((b) => b.line);
  try {
    // Records come from NDJSON or CSV: search them for U+0000 (the store cannot hold it).
    const events: UsageEvent[] = parseCloudEvents(
      batch.map((b) => b.record),
      () => options.clock.now(),
      true,
    );
    const { inserted } = await options.ingest.write(events, { strict: 'all' });
    return { inserted, events: events.length };
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
}

export async function importUsageFile(options: ImportUsageFileOptions): Promise<ImportResult> {
  const path = resolve(options.file);
  if (!existsSync(path)) throw new Error(`no such file: ${path}`);
  const size = statSync(path).size;
  const format = options.format ?? (path.toLowerCase().endsWith('.csv') ? 'csv' : 'ndjson');
  const batchSize = options.batchSize ?? 5_000;
  const saved = savedImportState(options, path, size);
  const stateFile = saved.stateFile;
  let state = saved.state;
  const resumedFrom = state.offset;
  const save = () => writeFileSync(stateFile, `${JSON.stringify(state)}\n`);

  let header = state.header;
  const lineNo = state.line;
  let imported = 0;
  let duplicates = 0;
  let batch: { line: number; record: unknown; bytesAfter: number }[] = [];
  const problems: { line: number; message: string }[] = [];

  const flush = async () => {
    if (batch.length === 0) return;
    const written = await writeImportBatch(batch, options, path, problems);
    imported += written.inserted;
    duplicates += written.events - written.inserted;
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

  const records: AsyncGenerator<FileRecord<string | string[]>> =
    format === 'csv' ? csvRecords(path, state.offset, lineNo) : ndjsonLines(path, state.offset, lineNo);
  for await (const { line, bytesAfter, content } of records) {
    let record: unknown;
    try {
      if (typeof content === 'string') {
        record = jsonRecord(content, 'the line');
      } else if (!header) {
        header = content.map((h) => h.trim());
        checkHeader(header);
        state = { ...state, header, offset: bytesAfter, line };
        save();
        continue;
      } else {
        record = csvRecord(header, content);
      }
    } catch (error) {
      problems.push({ line, message: (error as Error).message });
      continue;
    }
    batch.push({ line, record, bytesAfter });
    if (batch.length >= batchSize) {
      if (problems.length) throw new ImportError(path, problems);
      await flush();
    }
  }
  if (problems.length) throw new ImportError(path, problems);
  await flush();
  return {
    bytesDone: state.offset,
    bytesTotal: size,
    lines: state.line,
    imported: state.imported,
    resumedFrom,
    duplicates,
  };
}
