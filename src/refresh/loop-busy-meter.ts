import { performance } from 'node:perf_hooks';

/** Busy share of this process's event loop (0 to 1) since the meter was last read. */
export type LoopBusyMeter = () => number;

/** Injection token of the LoopBusyMeter the scheduler's first-fetch pacer reads. */
export const LOOP_BUSY_METER = Symbol('LOOP_BUSY_METER');

/** The event loop's utilization between reads (perf_hooks): time in callbacks, collections included. */
export function eventLoopBusyMeter(): LoopBusyMeter {
  let last = performance.eventLoopUtilization();
  return () => {
    const now = performance.eventLoopUtilization();
    const share = performance.eventLoopUtilization(now, last).utilization;
    last = now;
    return share;
  };
}
