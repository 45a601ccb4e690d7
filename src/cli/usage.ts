import cliProgress from 'cli-progress';
import type { Command } from 'commander';
import pc from 'picocolors';
import { importUsageFile } from '../metering/import.ts';
import type { WindowSize } from '../metering/query.ts';
import { withTollgate } from './context.ts';
import { createTable } from './table.ts';

/** `tollgate usage import <file>` and `tollgate usage query --meter <slug>`. */

function parseDate(flag: string, value: string | undefined): Date | undefined {
  if (value === undefined) return undefined;
  const date = new Date(value);
  if (Number.isNaN(date.getTime())) {
    throw new Error(`${flag} must be an ISO 8601 time such as 2026-01-01T00:00:00Z, got "${value}"`);
  }
  return date;
}

const list = (value: string, previous: string[] = []) => [
  ...previous,
  ...value.split(',').map((v) => v.trim()),
];

export function registerUsageCommands(program: Command): void {
  const usage = program.command('usage').description('import and query metered usage');

  usage
    .command('import <file>')
    .description(
      'import usage events: NDJSON (one CloudEvent per line) or CSV (id,source,type,subject,time,data); ' +
        'resumable, deduplicated on (source, id)',
    )
    .option('--format <format>', 'ndjson | csv (default: from the file name)')
    .option('--batch-size <n>', 'events per transaction', '5000')
    .option('--restart', 'read the file from the start instead of resuming (duplicates are still skipped)')
    .option('--json', 'print the result as JSON')
    .action(
      async (
        file: string,
        opts: { format?: string; batchSize: string; restart?: boolean; json?: boolean },
        command: Command,
      ) => {
        if (opts.format && opts.format !== 'ndjson' && opts.format !== 'csv') {
          throw new Error(`--format must be ndjson or csv, got "${opts.format}"`);
        }
        const batchSize = Number(opts.batchSize);
        if (!Number.isInteger(batchSize) || batchSize < 1)
          throw new Error('--batch-size must be a positive integer');
        await withTollgate(command, async (tollgate) => {
          const bar =
            opts.json || !process.stderr.isTTY
              ? null
              : new cliProgress.SingleBar(
                  {
                    format: ' {bar} {percentage}% | {value}/{total} bytes | {imported} events',
                    stream: process.stderr,
                  },
                  cliProgress.Presets.shades_classic,
                );
          try {
            const result = await importUsageFile({
              file,
              dataDir: tollgate.runtime.dataDir,
              ingest: tollgate.metering.ingest,
              clock: tollgate.runtime.clock,
              format: opts.format as 'ndjson' | 'csv' | undefined,
              batchSize,
              restart: opts.restart,
              onProgress: (p) => {
                if (!bar) return;
                if (!bar.isActive) bar.start(p.bytesTotal, 0, { imported: 0 });
                bar.update(p.bytesDone, { imported: p.imported });
              },
            });
            bar?.stop();
            if (opts.json) {
              console.log(JSON.stringify(result, null, 2));
              return;
            }
            if (result.resumedFrom > 0) console.log(pc.dim(`resumed at byte ${result.resumedFrom}`));
            console.log(
              `${pc.green('imported')} ${result.imported} events from ${result.lines} lines` +
                (result.duplicates
                  ? pc.dim(` (${result.duplicates} already stored, not counted again)`)
                  : ''),
            );
          } catch (error) {
            bar?.stop();
            throw error;
          }
        });
      },
    );

  usage
    .command('query')
    .description('query a meter (OpenMeter semantics: half-open [from, to), windows, group-by)')
    .requiredOption('--meter <slug>', 'meter slug or id')
    .option('--from <iso>', 'start (inclusive)')
    .option('--to <iso>', 'end (exclusive)')
    .option('--window <size>', 'MINUTE | HOUR | DAY | MONTH')
    .option('--time-zone <tz>', 'IANA time zone for windows', 'UTC')
    .option('--group-by <dims>', 'group by these dimensions (comma-separated; "subject" allowed)', list)
    .option('--subject <ids>', 'only these subjects (comma-separated)', list)
    .option('--filter <dim=value>', 'only events whose dimension has this value (repeatable)', list)
    .option('--json', 'print JSON (the OpenMeter query response shape)')
    .action(
      async (
        opts: {
          meter: string;
          from?: string;
          to?: string;
          window?: string;
          timeZone: string;
          groupBy?: string[];
          subject?: string[];
          filter?: string[];
          json?: boolean;
        },
        command: Command,
      ) => {
        const window = opts.window?.toUpperCase();
        if (window && !['MINUTE', 'HOUR', 'DAY', 'MONTH'].includes(window)) {
          throw new Error(`--window must be MINUTE, HOUR, DAY or MONTH, got "${opts.window}"`);
        }
        const filterGroupBy: Record<string, string> = {};
        for (const f of opts.filter ?? []) {
          const eq = f.indexOf('=');
          if (eq <= 0) throw new Error(`--filter takes dimension=value, got "${f}"`);
          filterGroupBy[f.slice(0, eq)] = f.slice(eq + 1);
        }
        const params = {
          meterSlug: opts.meter,
          from: parseDate('--from', opts.from),
          to: parseDate('--to', opts.to),
          windowSize: window as WindowSize | undefined,
          windowTimeZone: opts.timeZone,
          groupBy: opts.groupBy,
          subject: opts.subject,
          filterGroupBy: Object.keys(filterGroupBy).length ? filterGroupBy : undefined,
        };
        await withTollgate(command, async (tollgate) => {
          const result = await tollgate.metering.reader.query(params);
          if (opts.json) {
            console.log(JSON.stringify(result, null, 2));
            return;
          }
          const dims = (opts.groupBy ?? []).filter((g) => g !== 'subject');
          const bySubject = (opts.groupBy ?? []).includes('subject');
          const table = createTable({
            head: ['window start', 'window end', ...(bySubject ? ['subject'] : []), ...dims, 'value'].map(
              (h) => pc.bold(h),
            ),
            colAligns: [
              'left',
              'left',
              ...(bySubject ? ['left' as const] : []),
              ...dims.map(() => 'left' as const),
              'right',
            ],
          });
          for (const row of result.data) {
            table.push([
              row.windowStart,
              row.windowEnd,
              ...(bySubject ? [row.subject ?? pc.dim('—')] : []),
              ...dims.map((d) => row.groupBy[d] ?? pc.dim('—')),
              String(row.value),
            ]);
          }
          if (result.data.length === 0) console.log(pc.dim('No usage in this range.'));
          else console.log(table.toString());
        });
      },
    );
}
