/**
 * profile-top: summarises a V8 CPU profile (`node --cpu-prof` writes *.cpuprofile) as the
 * functions with the most self time, and the same time grouped by where the code lives (this
 * repository's folders, each npm package, Node's internals, GC, idle). Used to explain the
 * benchmark's CPU per operation (docs/performance.md). Reads one file; bounded by its size.
 *
 *   npm run build && node dist/bench/profile-top.js <file.cpuprofile> [--top 25]
 */
import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';

/** ProfileNode is one call-tree node of a .cpuprofile. */
interface ProfileNode {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
  children?: number[];
}

/** CpuProfile is the part of a .cpuprofile this reads. */
interface CpuProfile {
  nodes: ProfileNode[];
  samples: number[];
  timeDeltas: number[];
}

/** SelfTime is the self time (µs) of one function or one place. */
export interface SelfTime {
  name: string;
  us: number;
}

/** placeOf names where a frame's code lives: a package, a repository folder, node, or V8. */
export function placeOf(url: string, functionName: string): string {
  if (url === '') return functionName.startsWith('(') ? functionName : '(native)';
  if (url.startsWith('node:')) return 'node internals';
  // A package inside another's node_modules (etcd3's own @grpc/grpc-js) is named by both.
  const packages = [...url.matchAll(/node_modules\/((?:@[^/]+\/)?[^/]+)/g)].map((m) => m[1]);
  if (packages.length > 0) return packages.join(' › ');
  const repoMatch = url.match(/\/dist\/((?:src|bench|jepsen-like-tests)\/[^/]+)/);
  return repoMatch ? repoMatch[1] : url;
}

/** selfTimes sums the profile's sample time per function and per place, largest first. */
export function selfTimes(profile: CpuProfile): { functions: SelfTime[]; places: SelfTime[] } {
  const byId = new Map(profile.nodes.map((node) => [node.id, node]));
  const functions = new Map<string, number>();
  const places = new Map<string, number>();
  const count = Math.min(profile.samples.length, profile.timeDeltas.length);
  for (let i = 0; i < count; i++) {
    const node = byId.get(profile.samples[i]);
    // A sample's time is the delta to the next one; the first delta is the start offset.
    const us = i + 1 < count ? profile.timeDeltas[i + 1] : 0;
    if (!node || us <= 0) continue;
    const { functionName, url, lineNumber } = node.callFrame;
    const file = url.replace(/^.*\/(node_modules|dist)\//, '$1/');
    const name = `${functionName || '(anonymous)'} ${file}:${lineNumber + 1}`;
    functions.set(name, (functions.get(name) ?? 0) + us);
    const place = placeOf(url, functionName);
    places.set(place, (places.get(place) ?? 0) + us);
  }
  const sorted = (map: Map<string, number>): SelfTime[] =>
    [...map].map(([name, us]) => ({ name, us })).sort((a, b) => b.us - a.us);
  return { functions: sorted(functions), places: sorted(places) };
}

function table(title: string, rows: SelfTime[], totalUs: number, top: number): string {
  const lines = [`| ${title} | self ms | % of samples |`, '| --- | --- | --- |'];
  for (const row of rows.slice(0, top)) {
    const percent = ((100 * row.us) / totalUs).toFixed(1);
    lines.push(`| \`${row.name}\` | ${Math.round(row.us / 1_000)} | ${percent} |`);
  }
  return lines.join('\n');
}

function main(): void {
  const { values, positionals } = parseArgs({
    allowPositionals: true,
    options: { top: { type: 'string', default: '25' } },
  });
  if (positionals.length !== 1) throw new Error('usage: profile-top <file.cpuprofile> [--top N]');
  const top = Math.max(1, Math.min(200, Number(values.top) || 25));
  const profile = JSON.parse(readFileSync(positionals[0], 'utf8')) as CpuProfile;
  const { functions, places } = selfTimes(profile);
  const totalUs = functions.reduce((sum, row) => sum + row.us, 0);
  const idleUs = functions.filter((f) => f.name.startsWith('(idle)')).reduce((s, f) => s + f.us, 0);
  console.log(
    `${positionals[0]}: ${Math.round(totalUs / 1_000)} ms sampled, ` +
      `${Math.round(((totalUs - idleUs) * 100) / totalUs)}% not idle\n`,
  );
  console.log(`${table('place', places, totalUs, top)}\n`);
  console.log(table('function (self time)', functions, totalUs, top));
}

main();
