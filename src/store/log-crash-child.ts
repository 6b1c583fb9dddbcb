/**
 * log-crash-child is the process the crash test in log-storage.test.ts kills with SIGKILL.
 *
 * Usage: node log-crash-child.js <dbPath> <seed>
 * It appends entries to groups CRASH_GROUPS of a fresh LogDb in a loop and reports on stdout,
 * one line each: `appending <n>` BEFORE staging entries up to index n (so the parent knows no
 * index beyond the largest n can be on disk), and `synced <n>` AFTER the sync covering them
 * resolved (so every index <= n must survive the kill). Writes to a pipe are synchronous in Node
 * on Linux, so a line that was written reaches the parent even if the kill follows at once.
 * Each cycle also commits the previous cycle's entries and now and then compacts, so a crash
 * can land in a batch holding puts, deletes and metadata of every group.
 */
import { fileURLToPath } from 'node:url';
import { EntryType, type Entry, type GroupId, type Index } from '../raft/types.js';
import { LogDb } from './log-storage.js';

/** CRASH_GROUPS are the groups the child writes (spread over the u32 id space). */
export const CRASH_GROUPS: readonly GroupId[] = [1, 300, 70_000] as GroupId[];
/** CRASH_KEEP_ENTRIES is how many entries the child keeps below the commit when it compacts. */
export const CRASH_KEEP_ENTRIES = 100;
/** CRASH_MAX_INDEX bounds the child's run if nobody kills it. */
export const CRASH_MAX_INDEX = 200_000;

/** crashEntry is the entry the child writes at `index` of `group` (the parent checks it). */
export function crashEntry(group: GroupId, index: Index): Entry {
  const text = `g${group}-i${index}-`.repeat(1 + (index % 7));
  return {
    index,
    term: 1 + Math.floor(index / 50),
    type: index % 10 === 0 ? EntryType.ConfChange : EntryType.Normal,
    data: new TextEncoder().encode(text),
  };
}

async function main(dbPath: string, seed: number): Promise<void> {
  const logDb = await LogDb.open(dbPath);
  const groups = CRASH_GROUPS.map((id) => logDb.group(id));
  let random = seed >>> 0 || 1;
  let last = 0;
  while (last < CRASH_MAX_INDEX) {
    random = xorshift32(random);
    const to = last + 1 + (random % 20);
    process.stdout.write(`appending ${to}\n`);
    for (const group of groups) {
      const batch: Entry[] = [];
      for (let i = last + 1; i <= to; i++) batch.push(crashEntry(group.groupId, i));
      group.append(batch);
      group.setHardState({
        term: batch[batch.length - 1].term,
        vote: group.hardStateNow().vote,
        commit: last,
      });
      if (random % 8 === 0 && last > CRASH_KEEP_ENTRIES) group.compact(last - CRASH_KEEP_ENTRIES);
    }
    await logDb.sync();
    process.stdout.write(`synced ${to}\n`);
    last = to;
  }
  await logDb.close();
}

function xorshift32(x: number): number {
  x ^= x << 13;
  x ^= x >>> 17;
  x ^= x << 5;
  return x >>> 0;
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const [dbPath, seedText] = process.argv.slice(2);
  if (dbPath === undefined) throw new Error('usage: log-crash-child.js <dbPath> <seed>');
  await main(dbPath, Number(seedText ?? '1'));
}
