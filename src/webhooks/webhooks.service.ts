import { Inject, Injectable } from '@nestjs/common';
import { randomBytes } from 'node:crypto';
import { AuditService } from '../audit/audit.service';
import type { Principal } from '../auth/principal';
import { BrokerError } from '../common/broker-error';
import { newWebhookId } from '../common/ids';
import { toPage, type CursorQueryDto, type Page } from '../common/page-query';
import { checkAllowedUrl } from '../clients/token-url';
import type { AppConfig } from '../config/config';
import { APP_CONFIG } from '../config/config.module';
import { SecretBox, webhookSecretContext } from '../crypto/secret-box';
import { BROKER_STORE, type WebhookStore } from '../store/broker-store';
import type { DeliveryRecord, WebhookEvent, WebhookRecord } from '../store/webhook.types';
import type { CreateWebhookDto } from './dto/create-webhook.dto';

/** Standard Webhooks secrets: `whsec_` and the base64 of 32 random bytes. */
const SECRET_PREFIX = 'whsec_';

export interface WebhookView {
  id: string;
  url: string;
  events: string[];
  workspaces: string[];
  createdAt: string;
}

export interface DeliveryView {
  id: string;
  eventId: string;
  type: string;
  attempts: number;
  state: string;
  lastStatus: number | null;
  lastAttemptAt: string | null;
  nextAttemptAt: string | null;
}

@Injectable()
export class WebhooksService {
  constructor(
    @Inject(BROKER_STORE) private readonly store: WebhookStore,
    @Inject(APP_CONFIG) private readonly config: AppConfig,
    private readonly box: SecretBox,
    private readonly audit: AuditService,
  ) {}

  /** The secret exists in plaintext only in this answer; the store keeps it sealed. */
  async create(dto: CreateWebhookDto, actor: Principal): Promise<WebhookView & { secret: string }> {
    const checked = checkAllowedUrl(dto.url, this.config.webhookUrlAllowlist, {
      field: 'url',
      variable: 'WEBHOOK_URL_ALLOWLIST',
    });
    if ('problem' in checked) {
      throw new BrokerError('bad_request', 'Invalid url', { details: [{ field: 'url', problems: [checked.problem] }] });
    }
    const id = newWebhookId();
    const secret = SECRET_PREFIX + randomBytes(32).toString('base64');
    const workspaces =
      dto.workspaces === undefined || dto.workspaces.includes('*') ? ['*'] : [...new Set(dto.workspaces)];
    const record: WebhookRecord = {
      id,
      url: checked.url,
      events: dto.events.includes('*') ? ['*'] : [...new Set(dto.events)],
      workspaces,
      sealedSecret: this.box.seal(secret, webhookSecretContext(id)),
      createdAt: new Date().toISOString(),
    };
    await this.store.insertWebhook(record);
    await this.audit.record(actor, 'webhook.create', null, null);
    return { ...toView(record), secret };
  }

  async list(): Promise<{ items: WebhookView[] }> {
    return { items: (await this.store.listWebhooks()).map(toView) };
  }

  async delete(id: string, actor: Principal): Promise<void> {
    if (!(await this.store.deleteWebhook(id))) throw BrokerError.notFound('Webhook');
    await this.audit.record(actor, 'webhook.delete', null, null);
  }

  async deliveries(id: string, query: CursorQueryDto): Promise<Page<DeliveryView>> {
    await this.mustExist(id);
    const fetched = await this.store.listDeliveries(id, query.limit + 1, query.cursor);
    return toPage(fetched.map(toDeliveryView), query.limit, (delivery) => delivery.id);
  }

  /** Queues a `webhook.test` event for this webhook alone. */
  async sendTest(id: string): Promise<void> {
    await this.mustExist(id);
    const event: WebhookEvent = {
      id: `evt_test_${randomBytes(12).toString('hex')}`,
      type: 'webhook.test',
      timestamp: new Date().toISOString(),
      data: { clientId: null, workspaceId: null, name: null, state: null, lastError: null, failingSince: null },
    };
    await this.store.enqueueEvent(event, id);
  }

  private async mustExist(id: string): Promise<void> {
    if ((await this.store.getWebhook(id)) === null) throw BrokerError.notFound('Webhook');
  }
}

function toView(record: WebhookRecord): WebhookView {
  const { id, url, events, workspaces, createdAt } = record;
  return { id, url, events, workspaces, createdAt };
}

function toDeliveryView(record: DeliveryRecord): DeliveryView {
  const { id, eventId, type, attempts, state, lastStatus, lastAttemptAt, nextAttemptAt } = record;
  return { id, eventId, type, attempts, state, lastStatus, lastAttemptAt, nextAttemptAt };
}
