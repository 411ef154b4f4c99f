/** One name/value row of extraParams, as the form edits it. */
export interface ParamRow {
  name: string;
  value: string;
}

export const MAX_EXTRA_PARAMS = 10;

/** The rows as the API takes them: blank rows left out; the broker checks names and values (and says which is wrong). */
export function extraParamsOf(rows: ParamRow[]): Record<string, string> {
  const params: Record<string, string> = {};
  for (const row of rows) {
    const name = row.name.trim();
    if (name !== '' || row.value !== '') params[name] = row.value;
  }
  return params;
}
