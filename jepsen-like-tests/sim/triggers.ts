/**
 * Triggers are nemesis actions armed by a schedule and fired by what happens in the cluster:
 * "the next time a node becomes leader / first commits as leader / grants a vote / acknowledges
 * entries, crash it or cut it off". They reach the narrow windows that random timing rarely
 * hits: a crash between a vote and its persistence, a new leader isolated before its first
 * entry leaves, a leader cut off right after its first commit (Figure 8 of the Raft paper).
 */
import type { TriggerArgs, TriggerOn } from './schedule.js';

/** TriggerActions is what a firing trigger does to a node (implemented by the cluster). */
export interface TriggerActions {
  after(delayMs: number, action: () => void): void;
  crash(id: number): void;
  restart(id: number): void;
  isolate(id: number): void;
  log(line: string): void;
}

interface Armed extends TriggerArgs {
  fired: number;
}

/** Triggers holds the armed triggers of a run. Invariant: every armed one has fired < count. */
export class Triggers {
  private armed: Armed[] = [];
  /** Bumped by disarmAll: firings scheduled before it are dropped. */
  private generation = 0;
  /** fired counts firings over the run. */
  fired = 0;

  constructor(private readonly actions: TriggerActions) {}

  /** arm adds a trigger. */
  arm(args: TriggerArgs): void {
    if (args.count > 0) this.armed.push({ ...args, fired: 0 });
  }

  /** disarmAll drops every trigger (at the final heal). */
  disarmAll(): void {
    this.armed = [];
    this.generation++;
  }

  /** wants tells whether some trigger waits for `on` (lets callers skip work). */
  wants(on: TriggerOn): boolean {
    return this.armed.some((trigger) => trigger.on === on);
  }

  /** reached reports that node `id` reached moment `on`; fires the first matching trigger. */
  reached(on: TriggerOn, id: number): void {
    const trigger = this.armed.find((candidate) => candidate.on === on);
    if (trigger === undefined) return;
    trigger.fired++;
    this.fired++;
    if (trigger.fired >= trigger.count) this.armed = this.armed.filter((t) => t !== trigger);
    const { action, delayMs, restartAfterMs } = trigger;
    this.actions.log(`trigger ${on} fired on node ${id}: ${action} in ${delayMs} ms`);
    const generation = this.generation;
    this.actions.after(delayMs, () => {
      if (generation !== this.generation) return;
      if (action === 'isolate') return this.actions.isolate(id);
      this.actions.crash(id);
      if (restartAfterMs > 0) this.actions.after(restartAfterMs, () => this.actions.restart(id));
      // (a restart after the final heal is harmless: every node is up by then)
    });
  }
}
