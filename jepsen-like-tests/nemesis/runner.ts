/**
 * NemesisRunner plays a schedule against the cluster: for each step, inject the fault, hold
 * it for the step's duration, heal it, wait the step's gap. It stops early on abort or when the
 * run's time bound passes, and `healAll` ends every fault at the end of a run (restore links,
 * pass proxies, SIGCONT, restart dead nodes). Membership changes are not undone: moves finish
 * by themselves, and the runner waits for them before its final checks.
 */
import { PASS_MODE } from '../net/proxy.js';
import { sleep } from '../runner/time.js';
import { kindOf, type Heal, type NemesisContext } from './context.js';
import { membershipFault } from './membership-faults.js';
import { allLinks, linkKey, partitionFault, proxyFault } from './network-faults.js';
import { failpointFault, killFault, pauseFault, tornTailFault } from './process-faults.js';
import type { NemesisStep } from './schedule.js';
import { snapshotFault } from './snapshot-faults.js';

type Fault = (step: NemesisStep, ctx: NemesisContext) => Promise<Heal>;

const FAULTS: Readonly<Record<string, Fault>> = {
  kill: killFault,
  pause: pauseFault,
  partition: partitionFault,
  proxy: proxyFault,
  snapshot: snapshotFault,
  failpoint: failpointFault,
  'torn-tail': tornTailFault,
  membership: membershipFault,
};

/** NemesisRunner runs schedules in one context. */
export class NemesisRunner {
  /** ran lists the names of the steps that ran (in order). */
  readonly ran: string[] = [];

  constructor(private readonly ctx: NemesisContext) {}

  /**
   * run plays `steps` until done or aborted: the first `coverCount` steps (a coverage
   * schedule's) until `hardBoundMs`, the others only while the run clock is below `endMs`.
   */
  async run(
    steps: readonly NemesisStep[],
    coverCount: number,
    endMs: number,
    hardBoundMs: number,
  ): Promise<void> {
    for (const [index, step] of steps.entries()) {
      const now = this.ctx.clock.now();
      if (this.ctx.signal.aborted || now > hardBoundMs || (index >= coverCount && now > endMs)) {
        break;
      }
      const fault = FAULTS[kindOf(step)];
      if (!fault) throw new Error(`no fault for nemesis ${step.name}`);
      this.ran.push(step.name);
      let heal: Heal;
      try {
        heal = await fault(step, this.ctx);
      } catch (error) {
        this.ctx.log.add(step.name, 'note', `fault failed: ${String(error)}`);
        await this.healAll();
        continue;
      }
      await sleep(step.durationMs, this.ctx.signal);
      try {
        await heal();
      } catch (error) {
        this.ctx.log.add(step.name, 'note', `heal failed: ${String(error)}; healing all`);
        await this.healAll();
      }
      await sleep(step.gapMs, this.ctx.signal);
    }
  }

  /** healAll ends every fault: links, proxies, paused and dead nodes. */
  async healAll(): Promise<void> {
    const { cluster, firewall, proxy } = this.ctx;
    await firewall.heal();
    if (proxy) {
      const keys = allLinks(cluster.ids()).map(([a, b]) => linkKey(a, b));
      await proxy.setMode(keys, PASS_MODE);
    }
    const restarted: number[] = [];
    for (const id of cluster.ids()) {
      if (cluster.isPaused(id)) cluster.resume(id);
      if (!cluster.isRunning(id)) {
        cluster.launch(id);
        restarted.push(id);
      }
    }
    await cluster.waitServing(cluster.ids());
    this.ctx.log.add(
      'heal-all',
      'heal',
      `links and proxies healed; restarted ${restarted.join(',') || 'none'}`,
    );
  }
}
