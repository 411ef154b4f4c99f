import { createWriteStream, rmSync, type WriteStream } from 'node:fs';
import { Command, Option } from 'commander';
import { describeError, type BrokerApi } from './api-client';
import { detectFormat, parseImportFile, type ImportRecord } from './import-file';
import { emit, EXIT_API_ERROR, printFields, type OutputOptions } from './output';
import { ProgressBar } from './progress';
import { readTextFile } from './secrets';

/** The route's own limits: 1000 items and 4 MB; a little room is left for the envelope. */
const BATCH_MAX_ITEMS = 1000;
const BATCH_MAX_BYTES = 3_900_000;

interface ImportOptions extends OutputOptions {
  format?: string;
  failedOut?: string;
}

interface BatchItemResult {
  index: number;
  status: number;
  error?: { code?: string; message?: string; details?: unknown };
}

export interface ImportSummary {
  total: number;
  registered: number;
  alreadyThere: number;
  failed: number;
  failuresFile: string | null;
}

const HELP_AFTER = `
FILE is JSON Lines (one POST /v1/clients body per line) or CSV (a header row of
those field names: workspaceId,name,type,clientId,clientSecret,apiKey,tokenUrl,scope,tokenRequestFormat,
tokenEndpointAuthMethod,privateKey,clientCertificate,keyId,signingAlg,defaultExpiresInSeconds,extraParams).
PEM keys and certificates go in as they are: a JSON string with \n line breaks in
JSON Lines, a quoted multi-line cell in CSV. In CSV, extraParams is a JSON object
({"audience":"https://..."}), or give one column per parameter: extraParams.audience.
The file holds secrets: keep it, and the failures file, out of shared places.

Lines are sent in batches of up to 1000. Run the same command again after an
interruption: a client already there (409, same clientId in its workspace) is
counted as such, not registered twice. api_key lines have no clientId, so a
rerun registers those again: remove the lines already done first.

Lines that failed are written, with the reason, to FILE.failed.jsonl (or
--failed-out); the reasons never quote a secret, the lines themselves are copied
as they are (they come from your file). Exit code 1 when any line failed.`;

export function registerImportCommand(clients: Command, api: () => BrokerApi): void {
  clients
    .command('import <file>')
    .description('register many clients from a JSON Lines or CSV file, through POST /v1/clients/batch')
    .addOption(new Option('--format <format>', 'file format (default: by extension)').choices(['jsonl', 'csv']))
    .option('--failed-out <path>', 'where to write the lines that failed (default: FILE.failed.jsonl)')
    .option('--json', 'print the summary as JSON')
    .addHelpText('after', HELP_AFTER)
    .action(async (file: string, options: ImportOptions) => {
      const records = parseImportFile(await readTextFile(file, 'import'), detectFormat(file, options.format));
      const summary = await importRecords(api(), records, options.failedOut ?? `${file}.failed.jsonl`);
      emit(options, summary, () => printSummary(summary));
      if (summary.failed > 0) process.exitCode = EXIT_API_ERROR;
    });
}

/** Sends the records in batches, one at a time, and writes every failure (with its line) as it is learnt. */
async function importRecords(api: BrokerApi, records: ImportRecord[], failuresPath: string): Promise<ImportSummary> {
  // A failures file from an earlier run describes that run: start afresh.
  rmSync(failuresPath, { force: true });
  const failures = new FailuresFile(failuresPath);
  const summary: ImportSummary = {
    total: records.length,
    registered: 0,
    alreadyThere: 0,
    failed: 0,
    failuresFile: null,
  };
  const progress = new ProgressBar(records.length, 'importing');
  let done = 0;
  try {
    for (const batch of batches(records)) {
      const sendable: { record: ImportRecord; body: Record<string, unknown> }[] = [];
      for (const record of batch) {
        if ('problem' in record) await failures.write(record, 0, 'bad_line', record.problem);
        else sendable.push({ record, body: record.body });
      }
      if (sendable.length > 0) {
        const answer = await api.post<{ items: BatchItemResult[] }>('/v1/clients/batch', {
          items: sendable.map((entry) => entry.body),
        });
        for (const result of answer.items) {
          const { record } = sendable[result.index];
          if (result.status === 201) summary.registered += 1;
          else if (result.status === 409) summary.alreadyThere += 1;
          else
            await failures.write(
              record,
              result.status,
              result.error?.code ?? 'error',
              describeError(result.status, result.error),
            );
        }
      }
      done += batch.length;
      progress.update(done);
    }
  } finally {
    progress.finish(done);
    summary.failed = failures.count;
    summary.failuresFile = failures.count > 0 ? failuresPath : null;
    await failures.close();
    if (done < records.length) process.stderr.write(partialNote(summary, done));
  }
  return summary;
}

/** Batches within the route's item and byte limits. */
function* batches(records: ImportRecord[]): Generator<ImportRecord[]> {
  let batch: ImportRecord[] = [];
  let bytes = 0;
  for (const record of records) {
    const size = 'body' in record ? Buffer.byteLength(JSON.stringify(record.body)) + 1 : 0;
    if (batch.length > 0 && (batch.length >= BATCH_MAX_ITEMS || bytes + size > BATCH_MAX_BYTES)) {
      yield batch;
      batch = [];
      bytes = 0;
    }
    batch.push(record);
    bytes += size;
  }
  if (batch.length > 0) yield batch;
}

/** JSON Lines of `{ line, status, code, reason, input }`; created on the first failure only. */
class FailuresFile {
  count = 0;
  private stream: WriteStream | null = null;

  constructor(private readonly path: string) {}

  async write(record: ImportRecord, status: number, code: string, reason: string): Promise<void> {
    this.stream ??= createWriteStream(this.path, { flags: 'w', mode: 0o600 });
    this.count += 1;
    const entry = `${JSON.stringify({ line: record.line, status, code, reason, input: record.text })}\n`;
    if (!this.stream.write(entry)) await new Promise<void>((resolve) => this.stream?.once('drain', () => resolve()));
  }

  async close(): Promise<void> {
    const stream = this.stream;
    if (stream) await new Promise<void>((resolve) => stream.end(() => resolve()));
  }
}

function printSummary(summary: ImportSummary): void {
  printFields([
    ['lines', summary.total],
    ['registered', summary.registered],
    ['already there', summary.alreadyThere],
    ['failed', summary.failed],
    ['failures file', summary.failuresFile ?? 'none'],
  ]);
}

function partialNote(summary: ImportSummary, done: number): string {
  return (
    `Stopped after ${done} of ${summary.total} lines (registered ${summary.registered}, already there ` +
    `${summary.alreadyThere}, failed ${summary.failed}). Run the same command again to go on.\n`
  );
}
