import type { Command } from 'commander';
import type { BrokerApi } from './api-client';
import { positiveInteger } from './client-options';
import { printTable, type OutputOptions } from './output';

/** As GET /v1/audit-events answers it. */
interface AuditEvent {
  id: string;
  at: string;
  actor: string;
  action: string;
  clientId: string | null;
  workspaceId: string | null;
}

interface AuditOptions extends OutputOptions {
  client?: string;
  workspace?: string;
  limit: number;
  follow?: boolean;
  interval: number;
}

/** Pages read per poll while following: more new events than this in one interval are caught up on the next poll. */
const FOLLOW_MAX_PAGES = 10;
const FOLLOW_PAGE_SIZE = 100;

export function registerAuditCommand(program: Command, api: () => BrokerApi): void {
  program
    .command('audit')
    .description('audit events, oldest of the newest first; --follow prints new ones as they come')
    .option('--client <id>', "only this client's events")
    .option('--workspace <id>', "only this workspace's events")
    .option('--limit <n>', 'how many of the newest to show', positiveInteger, 20)
    .option('--follow', 'keep polling and print new events (Ctrl-C to stop)')
    .option('--interval <ms>', 'polling interval with --follow', positiveInteger, 1000)
    .option('--json', 'one JSON object per line (JSON Lines)')
    .action(async (options: AuditOptions) => {
      const broker = api();
      const query = { clientId: options.client, workspaceId: options.workspace };
      const first = await broker.get<{ items: AuditEvent[] }>('/v1/audit-events', {
        ...query,
        limit: Math.min(options.limit, 500),
      });
      const seen = new Set(first.items.map((event) => event.id));
      print(first.items.slice().reverse(), options, true);
      if (!options.follow) return;
      let newestId = first.items[0]?.id;
      for (;;) {
        await new Promise((resolve) => setTimeout(resolve, options.interval));
        const fresh = await newEvents(broker, query, seen, newestId);
        for (const event of fresh) seen.add(event.id);
        if (fresh.length > 0) newestId = fresh[fresh.length - 1].id;
        print(fresh, options, false);
      }
    });
}

/** Walks newest-first pages back to the last event printed; returns what is new, oldest first. */
async function newEvents(
  broker: BrokerApi,
  query: Record<string, string | undefined>,
  seen: Set<string>,
  newestId: string | undefined,
): Promise<AuditEvent[]> {
  const fresh: AuditEvent[] = [];
  let cursor: string | undefined;
  for (let page = 0; page < FOLLOW_MAX_PAGES; page += 1) {
    const answer = await broker.get<{ items: AuditEvent[]; nextCursor: string | null }>('/v1/audit-events', {
      ...query,
      limit: FOLLOW_PAGE_SIZE,
      cursor,
    });
    const unseen = answer.items.filter((event) => !seen.has(event.id));
    fresh.push(...unseen);
    const reachedKnown = unseen.length < answer.items.length || newestId === undefined;
    if (reachedKnown || answer.nextCursor === null) break;
    cursor = answer.nextCursor;
  }
  return fresh.reverse();
}

function print(events: AuditEvent[], options: AuditOptions, withHeader: boolean): void {
  if (options.json) {
    for (const event of events) process.stdout.write(`${JSON.stringify(event)}\n`);
    return;
  }
  if (events.length === 0 && !withHeader) return;
  const rows = events.map((event) => [event.at, event.actor, event.action, event.clientId, event.workspaceId]);
  if (withHeader) printTable(['AT', 'ACTOR', 'ACTION', 'CLIENT', 'WORKSPACE'], rows);
  else for (const row of rows) process.stdout.write(`${row.map((cell) => cell ?? '-').join('  ')}\n`);
}
