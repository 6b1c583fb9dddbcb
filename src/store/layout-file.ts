/**
 * The layout file: `<dataDir>/layout.json`, the newest cluster layout this node has adopted.
 * A node restarts from it (not from its configured peers, which describe only the cluster's
 * first epoch), so a node that was down while the cluster changed starts from what it knew and
 * catches up from the metadata group. Written atomically (temporary file, fsync, rename).
 */
import { open, readFile, rename } from 'node:fs/promises';
import { join } from 'node:path';
import { parseClusterLayout, type ClusterLayout } from '../ring/index.js';

/** LAYOUT_FILE is the layout file's name in the data directory. */
export const LAYOUT_FILE = 'layout.json';

/** readLayoutFile returns the layout stored in `dataDir`, or null if there is none. */
export async function readLayoutFile(dataDir: string): Promise<ClusterLayout | null> {
  const text = await readFile(join(dataDir, LAYOUT_FILE), 'utf8').catch(() => null);
  if (text === null) return null;
  return parseClusterLayout(text);
}

/** writeLayoutFile stores `layout` in `dataDir`, atomically and durably. */
export async function writeLayoutFile(dataDir: string, layout: ClusterLayout): Promise<void> {
  const path = join(dataDir, LAYOUT_FILE);
  const temporary = `${path}.tmp`;
  const file = await open(temporary, 'w');
  try {
    await file.writeFile(JSON.stringify(layout) + '\n');
    await file.sync();
  } finally {
    await file.close();
  }
  await rename(temporary, path);
}
