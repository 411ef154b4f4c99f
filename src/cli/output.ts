/** A mistake in how the command was called: exit code 2. */
export class UsageError extends Error {
  override readonly name = 'UsageError';
}

export const EXIT_OK = 0;
export const EXIT_API_ERROR = 1;
export const EXIT_USAGE = 2;

export interface OutputOptions {
  json?: boolean;
}

export function printJson(value: unknown): void {
  process.stdout.write(`${JSON.stringify(value, null, 2)}\n`);
}

/** A plain aligned table; cells are single-line (control characters shown as spaces). */
export function printTable(headers: string[], rows: (string | number | null | undefined)[][]): void {
  const cells = rows.map((row) => row.map(cellText));
  const widths = headers.map((header, column) => Math.max(header.length, ...cells.map((row) => row[column].length)));
  const line = (row: string[]) =>
    row
      .map((cell, column) => cell.padEnd(widths[column]))
      .join('  ')
      .trimEnd();
  process.stdout.write(`${[line(headers), ...cells.map(line)].join('\n')}\n`);
}

/** `key: value` lines for one record. */
export function printFields(fields: [string, string | number | null | undefined][]): void {
  const width = Math.max(...fields.map(([key]) => key.length));
  process.stdout.write(
    `${fields.map(([key, value]) => `${`${key}:`.padEnd(width + 1)} ${cellText(value)}`).join('\n')}\n`,
  );
}

function cellText(value: string | number | null | undefined): string {
  if (value === null || value === undefined || value === '') return '-';
  // eslint-disable-next-line no-control-regex
  return String(value).replace(/[\u0000-\u001f\u007f]/g, ' ');
}

/** Either the JSON value (for scripts) or the human rendering. */
export function emit(options: OutputOptions, value: unknown, human: () => void): void {
  if (options.json) printJson(value);
  else human();
}
