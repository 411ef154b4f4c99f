import { Inject, Injectable, type OnApplicationBootstrap, type OnApplicationShutdown } from '@nestjs/common';
import type { LookupFunction } from 'node:net';
import { Webhook } from 'standardwebhooks';
import { LOGGER, type AppLogger } from '../common/logger';
import type { AppConfig } from '../config/config';
import { APP_CONFIG } from '../config/config.module';
import { SecretBox, webhookSecretContext } from '../crypto/secret-box';
import { TracingService } from '../tracing/tracing.service';
import { MetricsService } from '../metrics/metrics.service';
import { guardedLookup } from '../refresh/upstream/address-guard';
import { BROKER_STORE, type WebhookStore } from '../store/broker-store';
import { StoreEventsService } from '../store/store-events.service';
import type { DeliveryRecord, WebhookRecord } from '../store/webhook.types';
import { settleAttempt } from './delivery-policy';
import { sendDelivery } from './webhook-sender';

/** Attempts in flight per replica: a slow receiver holds at most these, never a refresh or a token request. */
export const DELIVERIES_IN_FLIGHT = 8;
/** How often the queue is looked at when nothing was due. */
const POLL_MS = 250;
/** A claim outlives its attempt's timeout by this much; then another replica takes the delivery over. */
const LEASE_MARGIN_MS = 5_000;

/**
 * Delivers queued webhook events from every replica: claims due deliveries
 * with a lease, signs each attempt (Standard Webhooks, reference library),
 * sends it through the SSRF guard with WEBHOOK_URL_ALLOWLIST, and settles it
 * (delivered, retry later, failed). A deleted webhook's attempts in flight
 * are aborted as soon as its change event arrives.
 */
@Injectable()
export class WebhookDeliveryWorker implements OnApplicationBootstrap, OnApplicationShutdown {
  private readonly inFlight = new Map<string, { webhookId: string; abort: AbortController }>();
  private readonly lookup: LookupFunction;
  private timer: NodeJS.Timeout | undefined;
  private stopped = false;
  private stopListening: (() => void) | undefined;

  constructor(
    @Inject(BROKER_STORE) private readonly store: WebhookStore,
    @Inject(APP_CONFIG) private readonly config: AppConfig,
    @Inject(LOGGER) private readonly logger: AppLogger,
    private readonly box: SecretBox,
    private readonly events: StoreEventsService,
    private readonly metrics: MetricsService,
    private readonly tracing: TracingService,
  ) {
    this.lookup = guardedLookup(config.webhookUrlAllowlist);
  }

  onApplicationBootstrap(): void {
    this.stopListening = this.events.onWebhookChanged((id) => this.abortDeliveriesOf(id));
    this.metrics.countWebhooksPendingWith(() => this.store.countPendingDeliveries());
    this.schedule(0);
  }

  onApplicationShutdown(): void {
    this.stopped = true;
    clearTimeout(this.timer);
    this.stopListening?.();
    for (const { abort } of this.inFlight.values()) abort.abort();
  }

  private schedule(delayMs: number): void {
    if (this.stopped) return;
    clearTimeout(this.timer);
    this.timer = setTimeout(() => void this.tick(), delayMs);
    this.timer.unref();
  }

  private async tick(): Promise<void> {
    let claimed: DeliveryRecord[] = [];
    const free = DELIVERIES_IN_FLIGHT - this.inFlight.size;
    if (free > 0) {
      const now = Date.now();
      try {
        claimed = await this.store.claimDeliveries(now, now + this.config.webhookTimeoutMs + LEASE_MARGIN_MS, free);
      } catch (error) {
        this.logger.warn({ err: errorText(error) }, 'could not claim webhook deliveries');
      }
    }
    for (const delivery of claimed) void this.attempt(delivery);
    // A full claim may have left more due: look again at once.
    this.schedule(claimed.length === free && free > 0 ? 0 : POLL_MS);
  }

  private async attempt(delivery: DeliveryRecord): Promise<void> {
    const abort = new AbortController();
    this.inFlight.set(delivery.id, { webhookId: delivery.webhookId, abort });
    try {
      const webhook = await this.store.getWebhook(delivery.webhookId);
      // Deleted since the claim: the next claim drops it from the queue.
      if (webhook === null || abort.signal.aborted) return;
      const answer = await this.tracing.traceWebhookDelivery(spanFieldsOf(webhook.url, delivery), async (span) => {
        const sent = await sendDelivery({
          url: webhook.url,
          headers: this.signedHeaders(webhook, delivery),
          body: delivery.body,
          timeoutMs: this.config.webhookTimeoutMs,
          lookup: this.lookup,
          signal: abort.signal,
        });
        span.set({ outcome: sent.status === null ? 'unanswered' : String(sent.status) });
        return sent;
      });
      // Aborted: the webhook is gone or the process stops; the lease hands it on, if it still exists.
      if (abort.signal.aborted) return;
      const result = settleAttempt(delivery.attempts, answer.status, Date.now(), this.config.webhookRetrySeconds);
      if (await this.store.settleDelivery(delivery.id, delivery.attempts, result)) {
        this.metrics.webhookDeliveries.inc({ outcome: result.state === 'pending' ? 'retry' : result.state });
      }
      if (result.state !== 'delivered') {
        const reason = answer.status === null ? answer.reason : `HTTP ${answer.status}`;
        this.logger.warn(
          { webhookId: webhook.id, deliveryId: delivery.id, attempts: delivery.attempts + 1, reason },
          `webhook delivery ${result.state === 'pending' ? 'will be retried' : 'failed'}`,
        );
      }
    } catch (error) {
      // Left claimed: the lease lapses and the delivery is attempted again.
      this.logger.warn({ deliveryId: delivery.id, err: errorText(error) }, 'webhook delivery attempt did not complete');
    } finally {
      this.inFlight.delete(delivery.id);
      // A freed slot is filled at once rather than at the next poll.
      if (this.inFlight.size === DELIVERIES_IN_FLIGHT - 1) this.schedule(0);
    }
  }

  /** Standard Webhooks headers, signed at this attempt's time (receivers check the timestamp's age). */
  private signedHeaders(webhook: WebhookRecord, delivery: DeliveryRecord): Record<string, string> {
    const secret = this.box.open(webhook.sealedSecret, webhookSecretContext(webhook.id));
    const sentAt = new Date();
    return {
      'content-type': 'application/json',
      'user-agent': 'token-broker-webhooks',
      'webhook-id': delivery.eventId,
      'webhook-timestamp': String(Math.floor(sentAt.getTime() / 1_000)),
      'webhook-signature': new Webhook(secret).sign(delivery.eventId, sentAt, delivery.body),
    };
  }

  private abortDeliveriesOf(webhookId: string): void {
    for (const { webhookId: owner, abort } of this.inFlight.values()) if (owner === webhookId) abort.abort();
  }
}

function errorText(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

/** A delivery attempt's span: ids, event type, attempt number and the receiver's host and port, never its path. */
function spanFieldsOf(url: string, delivery: DeliveryRecord) {
  const target = new URL(url);
  const port = Number(target.port || (target.protocol === 'https:' ? 443 : 80));
  return {
    webhookId: delivery.webhookId,
    eventId: delivery.eventId,
    eventType: delivery.type,
    attempt: delivery.attempts + 1,
    host: target.hostname,
    port,
  };
}
