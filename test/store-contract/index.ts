import type { BrokerStore } from '../../src/store/broker-store';
import { describeAuditContract } from './audit.contract';
import { describeClientsContract } from './clients.contract';
import { describeCountersContract } from './counters.contract';
import { describeEventsContract } from './events.contract';
import { describeIsolationContract } from './isolation.contract';
import { describeListingContract } from './listing.contract';
import { describeLocksContract } from './locks.contract';
import { describeScheduleContract } from './schedule.contract';
import { describeServiceKeysContract } from './service-keys.contract';
import { describeUsageContract } from './usage.contract';
import { describeWebhookUpkeepContract } from './webhook-upkeep.contract';
import { describeWebhooksContract } from './webhooks.contract';

export * from './fixtures';
export { expectCountersExact } from './counters.contract';

/**
 * What every BrokerStore promises (see the doc comments in
 * src/store/interfaces/), one file per concern. Each test gets a fresh,
 * empty store from `makeStore` and closes it afterwards; `cleanup` runs once
 * at the end.
 */
export function describeStoreContract(
  name: string,
  makeStore: () => Promise<BrokerStore>,
  cleanup?: () => Promise<void>,
): void {
  describe(`${name}: BrokerStore contract`, () => {
    let current: BrokerStore;
    const store = () => current;

    beforeEach(async () => {
      current = await makeStore();
    });

    afterEach(async () => {
      await current.close();
    });

    if (cleanup) afterAll(cleanup);

    it('answers ping', async () => {
      await expect(store().ping()).resolves.toBeUndefined();
    });

    describeClientsContract(store);
    describeCountersContract(store);
    describeListingContract(store);
    describeScheduleContract(store);
    describeLocksContract(store);
    describeServiceKeysContract(store);
    describeAuditContract(store);
    describeEventsContract(store);
    describeIsolationContract(store);
    describeUsageContract(store);
    describeWebhooksContract(store);
    describeWebhookUpkeepContract(store);
  });
}
