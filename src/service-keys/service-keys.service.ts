import { Inject, Injectable } from '@nestjs/common';
import { randomBytes } from 'node:crypto';
import { AuditService } from '../audit/audit.service';
import { SERVICE_KEY_PREFIX, sha256 } from '../auth/auth.service';
import type { Principal } from '../auth/principal';
import { BrokerError } from '../common/broker-error';
import { newServiceKeyId } from '../common/ids';
import { BROKER_STORE, type ServiceKeyStore, type UsageStore } from '../store/broker-store';
import type { ServiceKeyRecord } from '../store/store.types';
import { UsageRecorder } from '../usage/usage-recorder';
import { usageTime } from '../usage/usage-time';
import type { CreateServiceKeyDto } from './dto/create-service-key.dto';

export interface ServiceKeyView {
  id: string;
  name: string;
  workspaces: string[];
  createdAt: string;
}

/** A key as listed: when a token was last served to it (from the usage times, at most 60 s stale), or null. */
export interface ListedServiceKey extends ServiceKeyView {
  lastUsedAt: string | null;
}

@Injectable()
export class ServiceKeysService {
  constructor(
    @Inject(BROKER_STORE) private readonly store: ServiceKeyStore & UsageStore,
    private readonly audit: AuditService,
    private readonly usage: UsageRecorder,
  ) {}

  /** The key itself exists only in this answer; the store keeps its hash. */
  async create(dto: CreateServiceKeyDto, actor: Principal): Promise<ServiceKeyView & { key: string }> {
    const id = newServiceKeyId();
    const key = `${SERVICE_KEY_PREFIX}.${id}.${randomBytes(32).toString('base64url')}`;
    const workspaces = dto.workspaces.includes('*') ? ['*'] : [...new Set(dto.workspaces)];
    const record: ServiceKeyRecord = {
      id,
      name: dto.name,
      workspaces,
      keyHash: sha256(key).toString('hex'),
      createdAt: new Date().toISOString(),
    };
    await this.store.insertServiceKey(record);
    await this.audit.record(actor, 'service_key.create', null, null);
    return { ...toView(record), key };
  }

  async list(): Promise<{ items: ListedServiceKey[] }> {
    const records = (await this.store.listServiceKeys()).sort((a, b) => a.id.localeCompare(b.id));
    const lastUsed = await this.store.lastUsage(
      'serviceKeys',
      records.map((record) => record.id),
    );
    return { items: records.map((record, index) => ({ ...toView(record), lastUsedAt: usageTime(lastUsed[index]) })) };
  }

  async delete(id: string, actor: Principal): Promise<void> {
    if (!(await this.store.deleteServiceKey(id))) throw BrokerError.notFound('Service key');
    // As for a deleted client (ClientsService): a usage time left behind is never read, ids are not reused.
    this.usage.discard('serviceKeys', id);
    await this.store.forgetUsage('serviceKeys', [id]).catch(() => undefined);
    await this.audit.record(actor, 'service_key.delete', null, null);
  }
}

function toView(record: ServiceKeyRecord): ServiceKeyView {
  return { id: record.id, name: record.name, workspaces: record.workspaces, createdAt: record.createdAt };
}
