import type { BrokerStore } from '../../src/store/broker-store';
import { UNSCHEDULED, auditEvent, makeEntry, makeToken, serviceKey, statusIn } from './fixtures';

/** Values are copied in and out. `store()` is the fresh store of the running test. */
export function describeIsolationContract(store: () => BrokerStore): void {
  describe('isolation', () => {
    it('keeps no reference to what callers pass in or get back', async () => {
      const entry = makeEntry('cl_a', { token: makeToken(1) });
      const expected = structuredClone(entry);
      await store().insertClient(entry, UNSCHEDULED);
      entry.client.name = 'mutated';
      entry.token!.sealedAccessToken = 'mutated';

      const read = (await store().getClient('cl_a'))!;
      read.status.state = 'rejected';
      read.client.scope = 'mutated';
      const [listed] = await store().listClients({ limit: 1 });
      listed.client.name = 'mutated';
      expect(await store().getClient('cl_a')).toEqual(expected);

      const status = statusIn('ready');
      await store().updateClient('cl_a', 1, { status });
      status.lastError = 'mutated';
      expect((await store().getClient('cl_a'))?.status).toEqual(statusIn('ready'));

      const removed = (await store().deleteClient('cl_a'))!;
      removed.client.name = 'mutated after delete';

      const record = serviceKey('sk_a', '2025-01-01T00:00:00.000Z', ['o_one']);
      await store().insertServiceKey(record);
      record.workspaces.push('o_mutated');
      (await store().getServiceKey('sk_a'))!.workspaces.push('o_mutated');
      (await store().listServiceKeys())[0].workspaces.push('o_mutated');
      expect((await store().getServiceKey('sk_a'))?.workspaces).toEqual(['o_one']);

      const appended = await store().appendAudit(auditEvent('cl_a'), 100);
      appended.actor = 'mutated';
      expect((await store().listAudit({ limit: 1 }))[0].actor).toBe('admin:0123abcd');
    });
  });
}
