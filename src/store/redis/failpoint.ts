import type { TestFailpoint } from '../../config/config';
import type { StoreLogger } from '../store-helpers';

/**
 * TEST ONLY. A named point between two store steps where a test can stop the
 * process (TEST_FAILPOINT, refused when NODE_ENV=production): the process
 * logs that it got there and waits forever, so the test can SIGKILL it at
 * exactly that point. Unset, it costs nothing.
 * - after-client-write: after the client-slot step of an updateClient that
 *   changed the state, or of a deleteClient, before the counters step.
 * - after-client-insert: after an insertClient stored the client hash, before
 *   it is scheduled at its due time, listed and counted.
 */
export type FailpointName = TestFailpoint;
export type Failpoint = (name: FailpointName) => Promise<void>;

export const noFailpoint: Failpoint = () => Promise.resolve();

export function failpointAt(enabled: FailpointName | null, logger?: StoreLogger): Failpoint {
  if (enabled === null) return noFailpoint;
  return (name) => {
    if (name !== enabled) return Promise.resolve();
    logger?.warn({ failpoint: name }, 'TEST_FAILPOINT reached: waiting to be killed');
    return new Promise<void>(() => undefined);
  };
}
