/**
 * Loopback ports for test and benchmark processes. A port comes from below Linux's ephemeral
 * range (32768-60999 by default), checked free by binding it, and reserved across processes:
 * - a port from the kernel's own `listen(0)` is an ephemeral port, and an outgoing connection
 *   could take it before the node binds it (a node once failed to start that way);
 * - `node --test` runs test files in parallel processes that pick ports at the same time, and
 *   a port checked free by two of them before either node binds it would go to both. So each
 *   port handed out is also claimed by a file `<tmp>/strata-test-ports/<port>` holding the
 *   claimer's pid, created exclusively; the claims go when the process exits, and a claim
 *   whose process is gone is taken over.
 */
import { mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/** PORT_RANGE: where test ports come from (below the ephemeral range). */
const PORT_RANGE = { low: 12_000, high: 32_000 };
const CLAIMS_DIR = join(tmpdir(), 'strata-test-ports');
/** claimed lists the ports this process claimed (their files go at exit). */
const claimed = new Set<number>();

process.on('exit', () => {
  for (const port of claimed) rmSync(claimFile(port), { force: true });
});

/** freePort returns a loopback port that is free, and claimed for this process. */
export async function freePort(host = '127.0.0.1'): Promise<number> {
  for (let attempt = 0; attempt < 200; attempt++) {
    const port = PORT_RANGE.low + Math.floor(Math.random() * (PORT_RANGE.high - PORT_RANGE.low));
    if (await claimPort(port, host)) return port;
  }
  throw new Error(`no free port in ${PORT_RANGE.low}-${PORT_RANGE.high} on ${host}`);
}

/**
 * claimPort claims `port` for this process if no other living process claimed it and it can
 * be bound now; true if it did. A port this process already claimed is not given twice.
 */
export async function claimPort(port: number, host = '127.0.0.1'): Promise<boolean> {
  if (claimed.has(port) || !claimFileOf(port)) return false;
  claimed.add(port);
  if (await canBind(port, host)) return true;
  claimed.delete(port);
  rmSync(claimFile(port), { force: true });
  return false;
}

/** claimFileOf creates the claim file of `port`, taking over one whose process is gone. */
function claimFileOf(port: number): boolean {
  mkdirSync(CLAIMS_DIR, { recursive: true });
  const file = claimFile(port);
  for (let attempt = 0; attempt < 2; attempt++) {
    try {
      writeFileSync(file, String(process.pid), { flag: 'wx' });
      return true;
    } catch {
      if (isAlive(Number(readFileOrEmpty(file)))) return false;
      rmSync(file, { force: true }); // the claimer died without cleaning up
    }
  }
  return false;
}

function claimFile(port: number): string {
  return join(CLAIMS_DIR, String(port));
}

function readFileOrEmpty(file: string): string {
  try {
    return readFileSync(file, 'utf8');
  } catch {
    return '';
  }
}

function isAlive(pid: number): boolean {
  if (!Number.isSafeInteger(pid) || pid <= 0) return false;
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}

function canBind(port: number, host: string): Promise<boolean> {
  return new Promise((resolve) => {
    const server = createServer();
    server.once('error', () => resolve(false));
    server.listen(port, host, () => server.close(() => resolve(true)));
  });
}
