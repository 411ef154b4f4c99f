import { extname } from 'node:path';
import { UsageError } from './output';

export type ImportFormat = 'jsonl' | 'csv';

/** One record of the file: the body to send, or why it cannot be sent. `text` is the line as written. */
export type ImportRecord = { line: number; text: string } & ({ body: Record<string, unknown> } | { problem: string });

export function detectFormat(path: string, explicit: string | undefined): ImportFormat {
  if (explicit !== undefined) return explicit as ImportFormat;
  const extension = extname(path).toLowerCase();
  if (extension === '.csv') return 'csv';
  if (extension === '.jsonl' || extension === '.ndjson' || extension === '.json') return 'jsonl';
  throw new UsageError(`Cannot tell the format of ${path} from its extension: add --format jsonl or --format csv`);
}

export function parseImportFile(text: string, format: ImportFormat): ImportRecord[] {
  return format === 'csv' ? parseCsv(text) : parseJsonLines(text);
}

/**
 * JSON Lines: one POST /v1/clients body per line; blank lines are skipped.
 * The reason for a bad line never quotes it (JSON.parse's own message would).
 */
function parseJsonLines(text: string): ImportRecord[] {
  const records: ImportRecord[] = [];
  text.split('\n').forEach((raw, index) => {
    const line = raw.replace(/\r$/, '');
    if (line.trim() === '') return;
    let value: unknown;
    try {
      value = JSON.parse(line);
    } catch {
      records.push({ line: index + 1, text: line, problem: 'not valid JSON' });
      return;
    }
    if (typeof value !== 'object' || value === null || Array.isArray(value)) {
      records.push({ line: index + 1, text: line, problem: 'not a JSON object' });
    } else {
      records.push({ line: index + 1, text: line, body: value as Record<string, unknown> });
    }
  });
  return records;
}

/**
 * CSV (RFC 4180): a header row of body field names, then one client per
 * record; quoted fields may hold commas, quotes ("") and newlines (PEM keys).
 * An empty cell leaves the field out. CSV cells are text: an `extraParams`
 * cell holds a JSON object, `extraParams.NAME` columns add one parameter
 * each, and `defaultExpiresInSeconds` is read as a number.
 */
function parseCsv(text: string): ImportRecord[] {
  const rows = csvRows(text);
  const header = rows.shift();
  if (!header)
    throw new UsageError('The CSV file is empty: it needs a header row of field names (workspaceId,name,type,...)');
  const names = header.cells.map((name) => name.trim());
  return rows
    .filter((row) => !(row.cells.length === 1 && row.cells[0].trim() === ''))
    .map((row): ImportRecord => {
      if (row.unterminated) return { line: row.line, text: row.text, problem: 'a quoted field is not closed' };
      if (row.cells.length !== names.length) {
        return {
          line: row.line,
          text: row.text,
          problem: `has ${row.cells.length} fields, the header ${names.length}`,
        };
      }
      const cells: Record<string, string> = {};
      names.forEach((name, column) => {
        if (row.cells[column] !== '') cells[name] = row.cells[column];
      });
      const typed = typedCsvBody(cells);
      return typeof typed === 'string'
        ? { line: row.line, text: row.text, problem: typed }
        : { line: row.line, text: row.text, body: typed };
    });
}

const EXTRA_PARAM_COLUMN = 'extraParams.';

/** The body of one CSV record, its non-text fields typed; or what is wrong with it (never quoting a cell). */
function typedCsvBody(cells: Record<string, string>): Record<string, unknown> | string {
  const body: Record<string, unknown> = {};
  let extraParams: Record<string, unknown> | undefined;
  for (const [name, value] of Object.entries(cells)) {
    if (name === 'extraParams') {
      let parsed: unknown;
      try {
        parsed = JSON.parse(value);
      } catch {
        parsed = undefined;
      }
      if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed))
        return 'extraParams is not a JSON object (write {"name":"value"}, or use extraParams.NAME columns)';
      extraParams = { ...extraParams, ...parsed };
    } else if (name.startsWith(EXTRA_PARAM_COLUMN) && name.length > EXTRA_PARAM_COLUMN.length) {
      extraParams = { ...extraParams, [name.slice(EXTRA_PARAM_COLUMN.length)]: value };
    } else if (name === 'defaultExpiresInSeconds') {
      if (!/^\s*\d+\s*$/.test(value)) return 'defaultExpiresInSeconds is not a whole number';
      body[name] = Number(value);
    } else body[name] = value;
  }
  if (extraParams !== undefined) body.extraParams = extraParams;
  return body;
}

interface CsvRow {
  line: number;
  text: string;
  cells: string[];
  unterminated: boolean;
}

function csvRows(text: string): CsvRow[] {
  const rows: CsvRow[] = [];
  let position = 0;
  let line = 1;
  while (position < text.length) {
    const start = position;
    const startLine = line;
    const cells: string[] = [];
    let cell = '';
    let quoted = false;
    let unterminated = false;
    for (;;) {
      if (position >= text.length) {
        unterminated = quoted;
        break;
      }
      const char = text[position];
      position += 1;
      if (quoted) {
        if (char === '"' && text[position] === '"') {
          cell += '"';
          position += 1;
        } else if (char === '"') quoted = false;
        else {
          if (char === '\n') line += 1;
          cell += char;
        }
      } else if (char === '"' && cell === '') quoted = true;
      else if (char === ',') {
        cells.push(cell);
        cell = '';
      } else if (char === '\n') {
        line += 1;
        break;
      } else if (char !== '\r') cell += char;
    }
    cells.push(cell);
    rows.push({ line: startLine, text: text.slice(start, position).replace(/\r?\n$/, ''), cells, unterminated });
  }
  return rows;
}
