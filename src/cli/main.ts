/**
 * `strata`: the command line of Strata (bin/strata.js runs `main`). Dispatches to the
 * commands and turns every failure into ONE line on stderr, `strata: <what went wrong>`, with
 * exit code 2 for usage mistakes and 1 for anything else.
 */
import { StrataError } from '../client/index.js';
import { parseCommandLine, UsageError, type Command } from './args.js';
import { helpText } from './help.js';
import { CommandFailure, processIo, type CliIo } from './io.js';
import { runDel, runGet, runPut, runScan, runStatus } from './kv-commands.js';

/** EXIT_USAGE is the exit code of a usage mistake. */
export const EXIT_USAGE = 2;

/** errorLine renders any failure as one line (no stack, no newlines). */
export function errorLine(error: unknown): string {
  const message =
    error instanceof StrataError
      ? error.message
      : error instanceof Error
        ? error.message
        : String(error);
  return `strata: ${message.replace(/\s*\n\s*/g, ' ')}`;
}

/** exitCodeOf returns the exit code a failure ends the process with. */
export function exitCodeOf(error: unknown): number {
  if (error instanceof UsageError) return EXIT_USAGE;
  if (error instanceof CommandFailure) return error.exitCode;
  return 1;
}

/** main runs one command line and resolves with the process's exit code. */
export async function main(argv: readonly string[], io: CliIo = processIo): Promise<number> {
  try {
    const command = parseCommandLine(argv, io.env);
    return await run(command, io);
  } catch (error) {
    const hint = error instanceof UsageError ? ' (see strata --help)' : '';
    io.err(`${errorLine(error)}${hint}`);
    return exitCodeOf(error);
  }
}

async function run(command: Command, io: CliIo): Promise<number> {
  switch (command.type) {
    case 'help':
      io.out(helpText(command.topic));
      return 0;
    case 'node': {
      // Loaded only here: the store (LevelDB, Raft) is not needed by client commands.
      const { runNode } = await import('./node-command.js');
      return runNode(command, io);
    }
    case 'dev': {
      const { runDev } = await import('./dev-command.js');
      return runDev(command, io);
    }
    case 'put':
      return runPut(command, io);
    case 'get':
      return runGet(command, io);
    case 'del':
      return runDel(command, io);
    case 'scan':
      return runScan(command, io);
    case 'status':
      return runStatus(command, io);
    case 'tasks': {
      const { runTasks } = await import('./tasks-command.js');
      return runTasks(command, io);
    }
    case 'admin': {
      const { runAdmin } = await import('./admin-command.js');
      return runAdmin(command, io);
    }
    default:
      return command satisfies never;
  }
}
