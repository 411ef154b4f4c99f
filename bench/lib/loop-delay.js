'use strict';
/**
 * This thread's event-loop delay, as the lateness of a 10 ms timer: takeMax()
 * gives the largest since the last call. Not monitorEventLoopDelay: its
 * reset() drops the first interval after it, so a pause that began just
 * after a reset would go unseen.
 */
function loopDelayProbe() {
  let maxMs = 0;
  let due = performance.now() + 10;
  const timer = setInterval(() => {
    const now = performance.now();
    maxMs = Math.max(maxMs, now - due);
    due = now + 10;
  }, 10);
  timer.unref();
  return {
    takeMax: () => {
      const taken = maxMs;
      maxMs = 0;
      return taken;
    },
    stop: () => clearInterval(timer),
  };
}

module.exports = { loopDelayProbe };
