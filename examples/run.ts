/**
 * The examples' entry point (`npm run example -- <name>`): `wordcount` (examples/wordcount.ts)
 * or `windows` (examples/windows.ts), against the dev cluster and the local broker. Flags:
 * --endpoints a,b,c (default the dev cluster's 127.0.0.1:7001-7003), --brokers host:port
 * (default: the local broker, started with scripts/kafka.sh if it is not running).
 */
import { execFileSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { runWindows } from './windows.js';
import { runWordCount } from './wordcount.js';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const DEV_ENDPOINTS = ['127.0.0.1:7001', '127.0.0.1:7002', '127.0.0.1:7003'];

/** flag returns the value after `--name`, if given. */
function flag(args: string[], name: string): string | undefined {
  const at = args.indexOf(`--${name}`);
  return at >= 0 ? args[at + 1] : undefined;
}

/** localBroker starts (or finds) the local broker and returns its bootstrap address. */
function localBroker(): string {
  const out = execFileSync('bash', ['scripts/kafka.sh', 'start'], { cwd: ROOT, encoding: 'utf8' });
  const match = /bootstrap=(\S+)/.exec(out);
  if (!match) throw new Error(`scripts/kafka.sh start printed no bootstrap address:\n${out}`);
  return match[1]!;
}

async function main(args: string[]): Promise<void> {
  const name = args[0];
  const endpoints = flag(args, 'endpoints')?.split(',') ?? DEV_ENDPOINTS;
  const brokers = [flag(args, 'brokers') ?? localBroker()];
  console.log(`example ${name}: Strata ${endpoints.join(',')}, Kafka ${brokers.join(',')}`);
  if (name === 'wordcount') await runWordCount({ brokers, endpoints });
  else if (name === 'windows') await runWindows({ brokers, endpoints });
  else
    throw new Error(
      `usage: npm run example -- wordcount|windows [--brokers h:p] [--endpoints a,b]`,
    );
}

main(process.argv.slice(2)).then(
  () => process.exit(0),
  (error: unknown) => {
    console.error(error instanceof Error ? error.message : error);
    process.exit(1);
  },
);
