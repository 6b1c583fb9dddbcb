// Proves `strata dev` end to end with real processes: it starts three nodes (log lines
// prefixed [n1]..[n3]), announces the endpoints and the tour once the cluster answers, serves
// the CLI, stops every child cleanly on SIGINT (exit code 0), and a second run on the same
// --dir still has the data. Ports: three consecutive free loopback ports; the dev process is
// killed in after() if still running; every wait is bounded.
import assert from 'node:assert/strict';
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { after, before, describe, it } from 'node:test';
import { claimPort } from '../../jepsen-like-tests/harness/ports.js';

const LAUNCHER = fileURLToPath(new URL('../../../bin/strata.js', import.meta.url));
const WAIT_MS = 60_000;

/** threeFreePorts finds a base port whose next two are free too (bounded tries). */
async function threeFreePorts(): Promise<number> {
  for (let attempt = 0; attempt < 50; attempt++) {
    // Below the ephemeral range (32768-60999), so no outgoing connection takes one meanwhile.
    const base = 12_000 + Math.floor(Math.random() * 20_000);
    // Claimed one by one (see ports.ts): ports claimed before a miss stay claimed, unused.
    let claimed = 0;
    while (claimed < 3 && (await claimPort(base + claimed))) claimed++;
    if (claimed === 3) return base;
  }
  throw new Error('no three consecutive free ports found in 50 tries');
}

/** DevRun is one running `strata dev`. */
interface DevRun {
  child: ChildProcess;
  lines: string[];
  exited: Promise<number | null>;
}

function startDev(dir: string, basePort: number): DevRun {
  const args = [LAUNCHER, 'dev', '--dir', dir, '--base-port', String(basePort), '--groups', '8'];
  const child = spawn(process.execPath, args, { stdio: ['ignore', 'pipe', 'pipe'] });
  const lines: string[] = [];
  const keep = (chunk: Buffer): void => {
    lines.push(
      ...chunk
        .toString()
        .split('\n')
        .filter((line) => line !== ''),
    );
  };
  child.stdout!.on('data', keep);
  child.stderr!.on('data', keep);
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  return { child, lines, exited };
}

/** waitFor polls until a line matches (bounded by WAIT_MS). */
async function waitFor(run: DevRun, pattern: RegExp): Promise<void> {
  const until = Date.now() + WAIT_MS;
  while (Date.now() < until) {
    if (run.lines.some((line) => pattern.test(line))) return;
    if (run.child.exitCode !== null) break;
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  assert.fail(`no line matching ${pattern}:\n${run.lines.slice(-10).join('\n')}`);
}

function cli(endpoints: string, ...args: string[]): Promise<{ code: number; stdout: string }> {
  return new Promise((resolve) => {
    const options = { timeout: 30_000, env: { ...process.env, STRATA_ENDPOINTS: endpoints } };
    execFile(process.execPath, [LAUNCHER, ...args], options, (error, stdout) => {
      resolve({ code: error ? (typeof error.code === 'number' ? error.code : 1) : 0, stdout });
    });
  });
}

describe('strata dev', { timeout: 180_000 }, () => {
  let dir = '';
  let basePort = 0;
  let run: DevRun | null = null;

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'strata-dev-'));
    basePort = await threeFreePorts();
  });

  after(async () => {
    if (run && run.child.exitCode === null) {
      run.child.kill('SIGKILL');
      await run.exited;
    }
    await rm(dir, { recursive: true, force: true });
  });

  it('runs a 3-node cluster, stops on SIGINT and keeps its data for the next run', async () => {
    const endpoints = [0, 1, 2].map((i) => `127.0.0.1:${basePort + i}`).join(',');
    run = startDev(dir, basePort);
    await waitFor(run, /dev cluster 'dev' is up/);
    // Each child's banner comes through its own pipe: it may trail the parent's line.
    for (const n of [1, 2, 3]) await waitFor(run, new RegExp(`^\\[n${n}\\] strata node ${n}`));
    assert.ok(run.lines.some((line) => line.includes('npx strata put greeting hello --endpoints')));
    let put = { code: 1, stdout: '' };
    for (let attempt = 0; attempt < 20 && put.code !== 0; attempt++) {
      put = await cli(endpoints, 'put', 'greeting', 'hello');
    }
    assert.equal(put.code, 0);
    run.child.kill('SIGINT');
    assert.equal(await run.exited, 0, run.lines.slice(-10).join('\n'));
    assert.ok(run.lines.some((line) => /^dev cluster stopped \(SIGINT\)/.test(line)));
    for (const n of [1, 2, 3]) assert.ok(run.lines.includes(`[n${n}] exited (code 0)`));

    run = startDev(dir, basePort);
    await waitFor(run, /dev cluster 'dev' is up/);
    let got = { code: 1, stdout: '' };
    for (let attempt = 0; attempt < 20 && got.code !== 0; attempt++) {
      got = await cli(endpoints, 'get', 'greeting');
    }
    assert.deepEqual(got, { code: 0, stdout: 'hello\n' });
    run.child.kill('SIGTERM');
    assert.equal(await run.exited, 0);
  });
});
