#!/usr/bin/env node
import { Command, CommanderError } from 'commander';
import { ApiError, BrokerApi } from './api-client';
import { registerAuditCommand } from './audit.command';
import { loadCliConfig } from '../config/cli-config';
import { registerClientsCommands } from './clients.command';
import { registerHealthCommands } from './health.command';
import { EXIT_API_ERROR, EXIT_OK, EXIT_USAGE, UsageError } from './output';
import { registerServiceKeysCommands } from './service-keys.command';
import { registerWebhooksCommands } from './webhooks.command';

const DESCRIPTION = `The token broker's admin command line, over its public API.

Configure it with TOKEN_BROKER_URL (default http://127.0.0.1:3000) and
TOKEN_BROKER_ADMIN_KEY (an admin key). Secrets are read from a file
(--secret-file), standard input (--secret-stdin) or a hidden prompt, and PEM keys
and certificates from a file (--private-key-file, --certificate-file; - for
standard input), never from an argument. Exit codes: 0 success, 1 an error from the broker, 2 a usage error.`;

function buildProgram(): Command {
  const program = new Command('token-broker')
    .description(DESCRIPTION)
    .exitOverride()
    .showHelpAfterError('(add --help for usage)');
  // Built on first use: `--help` and usage errors need no configuration.
  let api: BrokerApi | undefined;
  const lazyApi = () => (api ??= new BrokerApi(loadCliConfig()));
  registerClientsCommands(program, lazyApi);
  registerServiceKeysCommands(program, lazyApi);
  registerWebhooksCommands(program, lazyApi);
  registerAuditCommand(program, lazyApi);
  registerHealthCommands(program, lazyApi);
  // Subcommands inherit the override, so their usage errors come back here too.
  program.commands.forEach(function override(command: Command): void {
    command.exitOverride();
    command.commands.forEach(override);
  });
  return program;
}

async function main(argv: string[]): Promise<number> {
  try {
    await buildProgram().parseAsync(argv);
    return typeof process.exitCode === 'number' ? process.exitCode : EXIT_OK;
  } catch (error) {
    return report(error);
  }
}

function report(error: unknown): number {
  if (error instanceof CommanderError) {
    // Commander has printed its message already; --help and --version are not errors, help shown for a
    // command given without its subcommand is.
    return error.exitCode === 0 ? EXIT_OK : EXIT_USAGE;
  }
  if (error instanceof UsageError) {
    process.stderr.write(`token-broker: ${error.message}\n`);
    return EXIT_USAGE;
  }
  if (error instanceof ApiError) {
    const where = error.status === 0 ? error.code : `${error.code}, HTTP ${error.status}`;
    process.stderr.write(`token-broker: ${error.message} (${where})\n`);
    return EXIT_API_ERROR;
  }
  // A prompt closed with Ctrl-C.
  if (error instanceof Error && error.name === 'ExitPromptError') return EXIT_USAGE;
  process.stderr.write(`token-broker: unexpected error: ${error instanceof Error ? error.message : String(error)}\n`);
  return EXIT_API_ERROR;
}

void main(process.argv).then((code) => {
  process.exitCode = code;
});
