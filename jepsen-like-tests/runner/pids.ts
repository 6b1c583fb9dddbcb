/**
 * PidRegistry remembers every process a run started that is still alive, in memory and in a
 * file (`pids.json`), so that the runner can kill them by pid on exit or on a signal, and a
 * parent can do the same from the file if the runner itself died. Pids leave the registry when
 * their process exits (so a reused pid is never killed).
 */
import { writeFileSync } from 'node:fs';

/** ACTIVE holds every registry of this process, for killAllActive (signal handlers). */
const ACTIVE = new Set<PidRegistry>();

/** killAllActive kills the processes of every registry of this process (on a signal). */
export function killAllActive(): void {
  for (const registry of ACTIVE) registry.killAll();
}

/** PidRegistry is the set of live processes started by a run. */
export class PidRegistry {
  private readonly pids = new Map<number, string>();

  constructor(private readonly file: string | null) {
    ACTIVE.add(this);
    this.save();
  }

  /** add records a started process; `what` names it. */
  add(pid: number, what: string): void {
    this.pids.set(pid, what);
    this.save();
  }

  /** remove forgets a process that exited. */
  remove(pid: number): void {
    if (this.pids.delete(pid)) this.save();
  }

  /** killAll sends SIGKILL (after SIGCONT, in case it is stopped) to every live process. */
  killAll(): void {
    for (const pid of this.pids.keys()) killPid(pid);
    this.pids.clear();
    this.save();
  }

  private save(): void {
    if (!this.file) return;
    const list = [...this.pids].map(([pid, what]) => ({ pid, what }));
    writeFileSync(this.file, JSON.stringify(list, null, 1) + '\n');
  }
}

/** killPid resumes and kills one process by pid; a process already gone is fine. */
export function killPid(pid: number): void {
  for (const signal of ['SIGCONT', 'SIGKILL'] as const) {
    try {
      process.kill(pid, signal);
    } catch {
      // already exited
    }
  }
}

/** killPidsInFile kills every process listed in a PidRegistry file (a parent's safety net). */
export function killPidsInFile(text: string): number {
  let killed = 0;
  try {
    for (const entry of JSON.parse(text) as { pid: number }[]) {
      if (Number.isSafeInteger(entry.pid) && entry.pid > 1) {
        killPid(entry.pid);
        killed++;
      }
    }
  } catch {
    return killed;
  }
  return killed;
}
