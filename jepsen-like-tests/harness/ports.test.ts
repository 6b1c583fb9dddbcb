/**
 * Tests of the port claims (ports.ts): a claimed port is not handed out again, in this process
 * or (through its claim file) in another living one; a claim left by a dead process is taken
 * over; a port bound by someone else is refused.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { claimPort, freePort } from './ports.js';

const CLAIMS_DIR = join(tmpdir(), 'strata-test-ports');

describe('test ports', () => {
  it('hands a port out once, below the ephemeral range', async () => {
    const port = await freePort();
    assert.ok(port >= 12_000 && port < 32_000, `port ${port}`);
    assert.equal(await claimPort(port), false);
  });

  it('respects a living process claim and takes over a dead one', async () => {
    const other = await unclaimedBindablePort();
    // A claim by another living process (our parent) is respected...
    writeFileSync(join(CLAIMS_DIR, String(other)), String(process.ppid));
    assert.equal(await claimPort(other), false);
    // ...and one by a process that is gone is taken over.
    const dead = spawnSync(process.execPath, ['-e', 'process.stdout.write(String(process.pid))']);
    writeFileSync(join(CLAIMS_DIR, String(other)), dead.stdout.toString());
    assert.equal(await claimPort(other), true);
  });

  it('refuses a port someone has bound', async () => {
    const server = createServer();
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const { port } = server.address() as { port: number };
    try {
      assert.equal(await claimPort(port), false);
    } finally {
      server.close();
    }
  });
});

/** unclaimedBindablePort finds a port of the range with no claim file that binds now. */
async function unclaimedBindablePort(): Promise<number> {
  for (let port = 31_000; port < 32_000; port++) {
    if (existsSync(join(CLAIMS_DIR, String(port)))) continue;
    const server = createServer();
    const bound = await new Promise<boolean>((resolve) => {
      server.once('error', () => resolve(false));
      server.listen(port, '127.0.0.1', () => resolve(true));
    });
    if (!bound) continue;
    await new Promise((resolve) => server.close(resolve));
    return port;
  }
  throw new Error('no unclaimed port in 31000-31999');
}
