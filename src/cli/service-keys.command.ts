import type { Command } from 'commander';
import type { BrokerApi } from './api-client';
import { emit, printFields, printTable, type OutputOptions } from './output';
import { confirmOrRefuse } from './secrets';

interface ServiceKeyView {
  id: string;
  name: string;
  workspaces: string[];
  createdAt: string;
  lastUsedAt?: string | null;
}

export function registerServiceKeysCommands(program: Command, api: () => BrokerApi): void {
  const keys = program.command('service-keys').description('keys internal services fetch tokens with');

  keys
    .command('create')
    .description('create a service key; the key is printed once, to stdout, and cannot be shown again')
    .requiredOption('--name <name>', 'who uses it')
    .requiredOption('--workspaces <ids>', 'comma-separated workspace ids, or * for all', commaList)
    .option('--json', 'JSON for scripts (includes the key)')
    .action(async (options: OutputOptions & { name: string; workspaces: string[] }) => {
      const created = await api().post<ServiceKeyView & { key: string }>('/v1/service-keys', {
        name: options.name,
        workspaces: options.workspaces,
      });
      emit(options, created, () => {
        printFields([
          ['id', created.id],
          ['name', created.name],
          ['workspaces', created.workspaces.join(',')],
          ['created', created.createdAt],
          ['key', created.key],
        ]);
        process.stdout.write('\nStore the key now: it is shown only this once.\n');
      });
    });

  keys
    .command('list')
    .description('list service keys (never the keys themselves)')
    .option('--json', 'JSON for scripts')
    .action(async (options: OutputOptions) => {
      const { items } = await api().get<{ items: ServiceKeyView[] }>('/v1/service-keys');
      emit(options, items, () =>
        printTable(
          ['ID', 'NAME', 'WORKSPACES', 'CREATED', 'LAST USED'],
          items.map((key) => [key.id, key.name, key.workspaces.join(','), key.createdAt, key.lastUsedAt]),
        ),
      );
    });

  keys
    .command('rm <id>')
    .description('delete a service key; every replica refuses it within 1 s')
    .option('--yes', 'do not ask for confirmation (required without a terminal)')
    .action(async (id: string, options: { yes?: boolean }) => {
      if (!(await confirmOrRefuse(options.yes, `Delete service key ${id}? Services using it stop getting tokens.`))) {
        process.stderr.write('Nothing deleted.\n');
        return;
      }
      await api().delete(`/v1/service-keys/${encodeURIComponent(id)}`);
      process.stderr.write(`Deleted service key ${id}.\n`);
    });
}

export function commaList(raw: string): string[] {
  return raw
    .split(',')
    .map((item) => item.trim())
    .filter(Boolean);
}
