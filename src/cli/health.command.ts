import type { Command } from 'commander';
import { ApiError, type BrokerApi } from './api-client';
import { emit, printFields, printTable, type OutputOptions } from './output';

interface TokenHealth {
  total: number;
  byState: Record<'pending' | 'ready' | 'failing' | 'rejected', number>;
  failing: { id: string; workspaceId: string; state: string; lastError: string | null; failingSince: string | null }[];
  nextRefreshAt: string | null;
}

export function registerHealthCommands(program: Command, api: () => BrokerApi): void {
  program
    .command('health')
    .description('readiness of the broker (/health/ready) and of its tokens (/health/tokens); exit 1 when not ready')
    .option('--json', 'JSON for scripts')
    .action(async (options: OutputOptions) => {
      const broker = api();
      const ready = await broker.probe('/health/ready');
      const tokens = await broker.get<TokenHealth>('/health/tokens');
      const isReady = ready.status === 200;
      emit(options, { ready: isReady, readiness: ready.body, tokens }, () => {
        printFields([
          ['ready', isReady ? 'yes' : `no (HTTP ${ready.status})`],
          ['clients', tokens.total],
          ...Object.entries<number>(tokens.byState),
          ['next refresh', tokens.nextRefreshAt],
        ]);
      });
      if (!isReady)
        throw new ApiError(
          ready.status,
          'not_ready',
          'The broker is not ready (store or scheduler down): see /health/ready',
        );
    });

  program
    .command('status')
    .description('clients by state, the failing and rejected ones (newest first), and the next refresh')
    .option('--json', 'JSON for scripts')
    .action(async (options: OutputOptions) => {
      const tokens = await api().get<TokenHealth>('/health/tokens');
      emit(options, tokens, () => printStatus(tokens));
    });
}

function printStatus(tokens: TokenHealth): void {
  printTable(['STATE', 'CLIENTS'], [...Object.entries<number>(tokens.byState), ['total', tokens.total]]);
  process.stdout.write(`\nnext refresh: ${tokens.nextRefreshAt ?? '-'}\n`);
  if (tokens.failing.length === 0) {
    process.stdout.write('no failing or rejected clients\n');
    return;
  }
  process.stdout.write('\n');
  printTable(
    ['ID', 'WORKSPACE', 'STATE', 'SINCE', 'LAST ERROR'],
    tokens.failing.map((client) => [
      client.id,
      client.workspaceId,
      client.state,
      client.failingSince,
      client.lastError,
    ]),
  );
}
