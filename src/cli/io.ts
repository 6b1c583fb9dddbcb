/**
 * CliIo is what the commands use of the process: output lines, the environment and signals.
 * Commands get it as an argument, so tests run them in-process and capture their output.
 */

/** CliIo is the commands' view of the process. */
export interface CliIo {
  /** out prints one line to standard output. */
  out(line: string): void;
  /** err prints one line to standard error. */
  err(line: string): void;
  env: NodeJS.ProcessEnv;
  /** onSignal calls `handler` on SIGINT and SIGTERM; returns a function that unsubscribes. */
  onSignal(handler: (signal: NodeJS.Signals) => void): () => void;
}

/** processIo is the real process. */
export const processIo: CliIo = {
  out: (line) => process.stdout.write(`${line}\n`),
  err: (line) => process.stderr.write(`${line}\n`),
  env: process.env,
  onSignal(handler) {
    process.on('SIGINT', handler);
    process.on('SIGTERM', handler);
    return () => {
      process.off('SIGINT', handler);
      process.off('SIGTERM', handler);
    };
  },
};

/** CommandFailure is an error a command reports as one line (exit code 1). */
export class CommandFailure extends Error {
  /** exitCode is the process's exit code (1, or 2 for a bad configuration). */
  readonly exitCode: number;
  constructor(message: string, exitCode = 1) {
    super(message);
    this.name = 'CommandFailure';
    this.exitCode = exitCode;
  }
}
