/**
 * The simulator's command line (`npm run test:raft -- ...`):
 *   --runs N         schedules to generate (default 1000)
 *   --seed S         fast-check seed: the same seed generates the same schedules (default 1)
 *   --nodes 3|5      only clusters of this size
 *   --profile NAME   'default' or a mutation's name (schedules biased toward that bug)
 *   --replay J       run one schedule: JSON text or a file holding it
 *   --no-shrink      report the first failing schedule as generated
 *   --verbose        one line per run; with --replay, a trace of the run
 * STRATA_MUTATION=<flag> (or --mutation) switches a known Raft bug in. Exits 1 on any property
 * failure, after printing the shrunk schedule and the commands that replay it.
 */
import { existsSync, readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { MUTATIONS, type Mutation } from '../../src/raft/index.js';
import { DEFAULT_PROFILE, profileByName, withNodeCounts } from './profiles.js';
import { runSchedule } from './run.js';
import { parseSchedule } from './schedule.js';
import { formatFailure, formatStats, runSuite } from './suite.js';

interface CliOptions {
  runs: number;
  seed: number;
  nodes: (3 | 5)[] | null;
  profile: string | null;
  replay: string | null;
  shrink: boolean;
  verbose: boolean;
  mutation: Mutation | null;
}

function parseCli(argv: string[]): CliOptions {
  const { values } = parseArgs({
    args: argv,
    options: {
      runs: { type: 'string', default: '1000' },
      seed: { type: 'string', default: '1' },
      nodes: { type: 'string' },
      profile: { type: 'string' },
      replay: { type: 'string' },
      mutation: { type: 'string' },
      'no-shrink': { type: 'boolean', default: false },
      verbose: { type: 'boolean', default: false },
    },
  });
  const integer = (name: string, text: string): number => {
    const value = Number(text);
    if (!Number.isSafeInteger(value) || value < 0) throw new RangeError(`--${name} ${text}`);
    return value;
  };
  const nodes = values.nodes === undefined ? null : integer('nodes', values.nodes);
  if (nodes !== null && nodes !== 3 && nodes !== 5) throw new RangeError('--nodes must be 3 or 5');
  const mutationName = values.mutation ?? process.env.STRATA_MUTATION ?? '';
  if (mutationName !== '' && !MUTATIONS.includes(mutationName as Mutation)) {
    throw new RangeError(`unknown mutation '${mutationName}': allowed ${MUTATIONS.join(', ')}`);
  }
  return {
    runs: integer('runs', values.runs),
    seed: integer('seed', values.seed),
    nodes: nodes === null ? null : [nodes],
    profile: values.profile ?? null,
    replay: values.replay ?? null,
    shrink: !values['no-shrink'],
    verbose: values.verbose,
    mutation: mutationName === '' ? null : (mutationName as Mutation),
  };
}

function replay(options: CliOptions, text: string): number {
  const json = existsSync(text) ? readFileSync(text, 'utf8') : text;
  const schedule = parseSchedule(json);
  const trace = options.verbose ? (line: string) => console.log(line) : undefined;
  const started = performance.now();
  const result = runSchedule(schedule, { mutation: options.mutation, trace });
  console.log(formatStats(result.stats, performance.now() - started));
  if (result.failure === null) {
    console.log('replay: every property held');
    return 0;
  }
  console.log(`PROPERTY FAILED: ${result.failure.property}\n  ${result.failure.message}`);
  return 1;
}

function main(argv: string[]): number {
  const options = parseCli(argv);
  if (options.replay !== null) return replay(options, options.replay);
  // With a mutation and no explicit profile, use the mix of schedules biased toward that bug.
  const profileName = options.profile ?? options.mutation;
  let profile = profileName === null ? DEFAULT_PROFILE : profileByName(profileName);
  if (options.nodes !== null) profile = withNodeCounts(profile, options.nodes);
  console.log(
    `raft simulation: ${options.runs} schedules, seed ${options.seed}, profile ` +
      `${profile.name}, nodes ${profile.nodeCounts.join('|')}` +
      (options.mutation === null ? '' : `, mutation ${options.mutation}`),
  );
  const result = runSuite({
    runs: options.runs,
    seed: options.seed,
    profile,
    mutation: options.mutation,
    shrink: options.shrink,
    progress: options.verbose ? (line) => console.log(line) : undefined,
  });
  console.log(formatStats(result.stats, result.elapsedMs));
  if (result.failure === null) {
    console.log(`all properties held over ${result.runs} schedules`);
    return 0;
  }
  console.log(formatFailure(result, options.mutation));
  return 1;
}

try {
  process.exitCode = main(process.argv.slice(2));
} catch (error) {
  console.error(error instanceof Error ? error.message : error);
  process.exitCode = 2;
}
