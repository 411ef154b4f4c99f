import { type Command, InvalidArgumentError } from 'commander';
import { CLIENT_EVENT_TYPES } from '../store/webhook.types';
import type { BrokerApi } from './api-client';
import { positiveInteger } from './client-options';
import { emit, printFields, printTable, UsageError, type OutputOptions } from './output';
import { confirmOrRefuse } from './secrets';
import { commaList } from './service-keys.command';

/** As GET /v1/webhooks lists them: never the secret. */
interface WebhookView {
  id: string;
  url: string;
  events: string[];
  workspaces: string[];
  createdAt: string;
}

/** As GET /v1/webhooks/:id/deliveries lists them, newest first. */
interface DeliveryView {
  id: string;
  eventId: string;
  type: string;
  attempts: number;
  state: 'pending' | 'delivered' | 'failed';
  lastStatus: number | null;
  lastAttemptAt: string | null;
  nextAttemptAt: string | null;
}

const EVENTS = ['*', ...CLIENT_EVENT_TYPES];
/** The route's own bound on one page. */
const DELIVERIES_MAX_LIMIT = 500;

const CREATE_HELP_AFTER = `
The URL must be https, with its host in the broker's WEBHOOK_URL_ALLOWLIST.
Events: ${EVENTS.join(', ')}.

The signing secret (whsec_...) is printed once, to stdout: store it where the
receiver can verify deliveries with it (Standard Webhooks). It cannot be shown again.`;

export function registerWebhooksCommands(program: Command, api: () => BrokerApi): void {
  const webhooks = program
    .command('webhooks')
    .description('endpoints told when a client starts failing, is rejected or recovers (Standard Webhooks)');
  registerList(webhooks, api);
  registerCreate(webhooks, api);
  registerRemove(webhooks, api);
  registerDeliveries(webhooks, api);
  registerTest(webhooks, api);
}

function registerList(webhooks: Command, api: () => BrokerApi): void {
  webhooks
    .command('list')
    .description('list webhooks (never their secrets)')
    .option('--json', 'JSON for scripts')
    .action(async (options: OutputOptions) => {
      const { items } = await api().get<{ items: WebhookView[] }>('/v1/webhooks');
      emit(options, items, () =>
        printTable(
          ['ID', 'URL', 'EVENTS', 'WORKSPACES', 'CREATED'],
          items.map((hook) => [hook.id, hook.url, hook.events.join(','), hook.workspaces.join(','), hook.createdAt]),
        ),
      );
    });
}

function registerCreate(webhooks: Command, api: () => BrokerApi): void {
  webhooks
    .command('create')
    .description('create a webhook; its signing secret is printed once, to stdout, and cannot be shown again')
    .requiredOption('--url <url>', 'where deliveries are POSTed (https, host in WEBHOOK_URL_ALLOWLIST)')
    .requiredOption('--events <types>', 'comma-separated event types, or * for all', eventList)
    .option('--workspaces <ids>', 'comma-separated workspace ids whose clients raise events, or * (default)', commaList)
    .option('--json', 'JSON for scripts (includes the secret)')
    .addHelpText('after', CREATE_HELP_AFTER)
    .action(async (options: OutputOptions & { url: string; events: string[]; workspaces?: string[] }) => {
      if (options.workspaces !== undefined && options.workspaces.length === 0)
        throw new UsageError('--workspaces needs at least one workspace id, or *');
      const created = await api().post<WebhookView & { secret: string }>('/v1/webhooks', {
        url: options.url,
        events: options.events,
        ...(options.workspaces !== undefined && { workspaces: options.workspaces }),
      });
      emit(options, created, () => {
        printFields([
          ['id', created.id],
          ['url', created.url],
          ['events', created.events.join(',')],
          ['workspaces', created.workspaces.join(',')],
          ['created', created.createdAt],
          ['secret', created.secret],
        ]);
        process.stdout.write('\nStore the secret now: it is shown only this once.\n');
      });
    });
}

function registerRemove(webhooks: Command, api: () => BrokerApi): void {
  webhooks
    .command('rm <id>')
    .description('delete a webhook; its pending deliveries are not sent')
    .option('--yes', 'do not ask for confirmation (required without a terminal)')
    .action(async (id: string, options: { yes?: boolean }) => {
      if (!(await confirmOrRefuse(options.yes, `Delete webhook ${id}?`))) {
        process.stderr.write('Nothing deleted.\n');
        return;
      }
      await api().delete(`/v1/webhooks/${encodeURIComponent(id)}`);
      process.stderr.write(`Deleted webhook ${id}.\n`);
    });
}

function registerDeliveries(webhooks: Command, api: () => BrokerApi): void {
  webhooks
    .command('deliveries <id>')
    .description("a webhook's deliveries, newest first: state, attempts, the receiver's last status")
    .option('--limit <n>', `at most this many (1-${DELIVERIES_MAX_LIMIT})`, positiveInteger, 50)
    .option('--cursor <cursor>', 'go on from the "next cursor" of an earlier page')
    .option('--json', 'JSON for scripts: { items, nextCursor }')
    .action(async (id: string, options: OutputOptions & { limit: number; cursor?: string }) => {
      if (options.limit > DELIVERIES_MAX_LIMIT)
        throw new UsageError(`--limit must be ${DELIVERIES_MAX_LIMIT} or less: page on with --cursor`);
      const page = await api().get<{ items: DeliveryView[]; nextCursor: string | null }>(
        `/v1/webhooks/${encodeURIComponent(id)}/deliveries`,
        { limit: options.limit, cursor: options.cursor },
      );
      emit(options, page, () => {
        printTable(
          ['ID', 'EVENT', 'TYPE', 'STATE', 'ATTEMPTS', 'LAST STATUS', 'LAST ATTEMPT', 'NEXT ATTEMPT'],
          page.items.map((d) => [
            d.id,
            d.eventId,
            d.type,
            d.state,
            d.attempts,
            d.lastStatus,
            d.lastAttemptAt,
            d.nextAttemptAt,
          ]),
        );
        if (page.nextCursor !== null) process.stdout.write(`\nnext cursor: ${page.nextCursor}\n`);
      });
    });
}

function registerTest(webhooks: Command, api: () => BrokerApi): void {
  webhooks
    .command('test <id>')
    .description('send a webhook.test event to the webhook; see it arrive with `webhooks deliveries`')
    .action(async (id: string) => {
      await api().post<void>(`/v1/webhooks/${encodeURIComponent(id)}/test`, undefined);
      process.stderr.write(`Queued a webhook.test event for webhook ${id}.\n`);
    });
}

/** `--events`: known types only, so a typo is a usage error rather than the broker's 400. */
function eventList(raw: string): string[] {
  const events = commaList(raw);
  const unknown = events.filter((event) => !EVENTS.includes(event));
  if (events.length === 0) throw new InvalidArgumentError('Give at least one event type, or *.');
  if (unknown.length > 0)
    throw new InvalidArgumentError(`Unknown event type ${unknown.join(', ')}; one of: ${EVENTS.join(', ')}.`);
  return events;
}
