import type { AuditStore } from '../../src/store/broker-store';
import type { AuditEvent } from '../../src/store/store.types';
import { auditEvent, idOf } from './fixtures';

/** The audit log. `store()` is the fresh store of the running test. */
export function describeAuditContract(store: () => AuditStore): void {
  describe('audit', () => {
    it('appends events with increasing ids and lists them newest first', async () => {
      const appended: AuditEvent[] = [];
      for (let index = 0; index < 5; index += 1)
        appended.push(await store().appendAudit(auditEvent(`cl_${index}`), 100));

      expect(appended[0]).toEqual({ ...auditEvent('cl_0'), id: expect.any(String) });
      expect(new Set(appended.map((event) => event.id)).size).toBe(5);
      expect(await store().listAudit({ limit: 10 })).toEqual([...appended].reverse());
    });

    it('appends many events in order, as appendAudit one by one', async () => {
      const first = await store().appendAudit(auditEvent('cl_0'), 100);
      const appended = await store().appendAudits([auditEvent('cl_1'), auditEvent('cl_2'), auditEvent('cl_3')], 100);

      expect(appended.map((event) => event.clientId)).toEqual(['cl_1', 'cl_2', 'cl_3']);
      expect(await store().listAudit({ limit: 10 })).toEqual([...appended].reverse().concat(first));
      expect(await store().appendAudits([], 100)).toEqual([]);
    });

    it('pages with beforeId, exclusive', async () => {
      const ids: string[] = [];
      for (let index = 0; index < 5; index += 1)
        ids.push((await store().appendAudit(auditEvent(`cl_${index}`), 100)).id);

      expect((await store().listAudit({ limit: 2 })).map(idOf)).toEqual([ids[4], ids[3]]);
      expect((await store().listAudit({ limit: 2, beforeId: ids[3] })).map(idOf)).toEqual([ids[2], ids[1]]);
      expect((await store().listAudit({ limit: 2, beforeId: ids[1] })).map(idOf)).toEqual([ids[0]]);
      expect(await store().listAudit({ limit: 2, beforeId: ids[0] })).toEqual([]);
    });

    it('filters by client, by workspace, or both', async () => {
      const a1 = await store().appendAudit(auditEvent('cl_a', 'o_one'), 100);
      const b1 = await store().appendAudit(auditEvent('cl_b', 'o_one'), 100);
      const keyEvent = await store().appendAudit({ ...auditEvent(null, null), action: 'service_key.create' }, 100);
      const c2 = await store().appendAudit(auditEvent('cl_c', 'o_two'), 100);
      const a2 = await store().appendAudit(auditEvent('cl_a', 'o_one'), 100);

      expect(await store().listAudit({ clientId: 'cl_a', limit: 10 })).toEqual([a2, a1]);
      expect(await store().listAudit({ workspaceId: 'o_one', limit: 10 })).toEqual([a2, b1, a1]);
      expect(await store().listAudit({ workspaceId: 'o_two', clientId: 'cl_a', limit: 10 })).toEqual([]);
      expect(await store().listAudit({ workspaceId: 'o_one', clientId: 'cl_b', limit: 10 })).toEqual([b1]);
      expect(await store().listAudit({ limit: 10 })).toEqual([a2, c2, keyEvent, b1, a1]);
      expect(await store().listAudit({ workspaceId: 'o_one', limit: 2 })).toEqual([a2, b1]);
      expect(await store().listAudit({ workspaceId: 'o_one', limit: 2, beforeId: b1.id })).toEqual([a1]);
    });

    it('finds sparse matches deep in a long log', async () => {
      const needles: AuditEvent[] = [];
      for (let index = 0; index < 1_100; index += 1) {
        const event = await store().appendAudit(
          auditEvent(index === 0 || index === 600 ? 'cl_needle' : `cl_${index}`),
          10_000,
        );
        if (event.clientId === 'cl_needle') needles.push(event);
      }
      expect(await store().listAudit({ clientId: 'cl_needle', limit: 5 })).toEqual([...needles].reverse());
    });

    it('keeps only the newest maxEvents events', async () => {
      const appended: AuditEvent[] = [];
      for (let index = 0; index < 6; index += 1) appended.push(await store().appendAudit(auditEvent(`cl_${index}`), 4));
      expect(await store().listAudit({ limit: 10 })).toEqual(appended.slice(2).reverse());
    });

    it('refuses a cursor that is not an event id', async () => {
      await store().appendAudit(auditEvent('cl_a'), 100);
      await expect(store().listAudit({ limit: 10, beforeId: 'not-an-id' })).rejects.toThrow(/audit cursor/);
    });
  });
}
