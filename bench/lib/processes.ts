import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { availableParallelism, tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { createInterface } from 'node:readline';

/**
 * What the gateway benchmarks share: the cores they pin to, the processes they start (stopped and
 * their scratch directory removed when the benchmark exits), and how they watch those processes.
 */
const ROOT = resolve(import.meta.dirname, '../..');
const pinned = availableParallelism() >= 2;
/** The system under test runs on core 0; load generators and upstreams on core 1. */
export const SUT_CPU = pinned ? '0' : undefined;
export const LOAD_CPU = pinned ? '1' : undefined;

/** A scratch directory and a way to start processes (pinned with taskset), both cleaned up at exit. */
export function benchProcesses(name: string): {
  tmp: string;
  start(cmd: string, args: string[], cpu: string | undefined, env?: Record<string, string>): ChildProcess;
} {
  const children: ChildProcess[] = [];
  const tmp = mkdtempSync(join(tmpdir(), `tollgate-bench-${name}-`));
  process.on('exit', () => {
    for (const child of children) if (child.exitCode === null) child.kill('SIGTERM');
    rmSync(tmp, { recursive: true, force: true });
  });
  process.on('SIGINT', () => process.exit(130));
  return {
    tmp,
    start(cmd, args, cpu, env = {}) {
      const [bin, argv] = cpu ? ['taskset', ['-c', cpu, cmd, ...args]] : [cmd, args];
      const child = spawn(bin as string, argv as string[], {
        cwd: ROOT,
        env: { ...process.env, ...env },
        stdio: ['ignore', 'pipe', 'inherit'],
      });
      children.push(child);
      return child;
    },
  };
}

/** The first line a child prints (the benchmark servers print their URL and key there). */
export function firstLine(child: ChildProcess, timeoutMs = 60_000): Promise<string> {
  return new Promise((resolveLine, reject) => {
    const timer = setTimeout(() => reject(new Error('process did not start in time')), timeoutMs);
    const rl = createInterface({ input: child.stdout as NodeJS.ReadableStream });
    rl.once('line', (line) => {
      clearTimeout(timer);
      resolveLine(line);
    });
    child.once('exit', (code) => reject(new Error(`process exited early (${code})`)));
  });
}

export async function waitForHttp(url: string, headers: Record<string, string> = {}): Promise<void> {
  for (let i = 0; i < 100; i++) {
    try {
      const res = await fetch(url, { headers });
      await res.arrayBuffer();
      if (res.status === 200) return;
    } catch {}
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`${url} did not answer 200`);
}

/** utime + stime of a process, in clock ticks (100 per second); NaN where /proc is missing. */
export function cpuTicks(pid: number): number {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return Number(fields[11]) + Number(fields[12]);
  } catch {
    return Number.NaN;
  }
}
