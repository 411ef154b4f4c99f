import { detectFormat, parseImportFile } from './import-file';
import { UsageError } from './output';

describe('import file parsing', () => {
  it('detects the format by extension unless told, and refuses to guess', () => {
    expect(detectFormat('a/clients.CSV', undefined)).toBe('csv');
    expect(detectFormat('clients.jsonl', undefined)).toBe('jsonl');
    expect(detectFormat('clients.ndjson', undefined)).toBe('jsonl');
    expect(detectFormat('clients.txt', 'csv')).toBe('csv');
    expect(() => detectFormat('clients.txt', undefined)).toThrow(UsageError);
  });

  it('reads JSON Lines with their line numbers, skipping blank lines, and never quotes a bad line in its reason', () => {
    const text = '{"name":"a"}\r\n\n{"secret":"hunter2"\n"just a string"\n  \n{"name":"b"}';
    expect(parseImportFile(text, 'jsonl')).toEqual([
      { line: 1, text: '{"name":"a"}', body: { name: 'a' } },
      { line: 3, text: '{"secret":"hunter2"', problem: 'not valid JSON' },
      { line: 4, text: '"just a string"', problem: 'not a JSON object' },
      { line: 6, text: '{"name":"b"}', body: { name: 'b' } },
    ]);
  });

  it('reads CSV by its header: quoted commas, doubled quotes, multi-line fields, empty cells left out', () => {
    const text =
      'name,clientSecret,scope\r\n"A, Inc.","x""y",\r\nB,"-----BEGIN-----\nabc\n-----END-----",read\nC,only two\n\nD,"open,';
    expect(parseImportFile(text, 'csv')).toEqual([
      { line: 2, text: '"A, Inc.","x""y",', body: { name: 'A, Inc.', clientSecret: 'x"y' } },
      {
        line: 3,
        text: 'B,"-----BEGIN-----\nabc\n-----END-----",read',
        body: { name: 'B', clientSecret: '-----BEGIN-----\nabc\n-----END-----', scope: 'read' },
      },
      { line: 6, text: 'C,only two', problem: 'has 2 fields, the header 3' },
      { line: 8, text: 'D,"open,', problem: 'a quoted field is not closed' },
    ]);
  });

  it('types CSV cells the API does not take as text: extraParams (JSON or one column each), defaultExpiresInSeconds', () => {
    const text = [
      'name,extraParams,extraParams.resource,defaultExpiresInSeconds',
      'A,"{""audience"":""https://api.example.com""}",https://api.example.com/r,7200',
      'B,,https://b.example.com,',
      'C,not json,,',
      'D,,,an hour',
      'E,"[1]",,',
    ].join('\n');
    expect(parseImportFile(text, 'csv')).toEqual([
      expect.objectContaining({
        line: 2,
        body: {
          name: 'A',
          extraParams: { audience: 'https://api.example.com', resource: 'https://api.example.com/r' },
          defaultExpiresInSeconds: 7200,
        },
      }),
      expect.objectContaining({ line: 3, body: { name: 'B', extraParams: { resource: 'https://b.example.com' } } }),
      expect.objectContaining({ line: 4, problem: expect.stringMatching(/^extraParams is not a JSON object/) }),
      expect.objectContaining({ line: 5, problem: 'defaultExpiresInSeconds is not a whole number' }),
      expect.objectContaining({ line: 6, problem: expect.stringMatching(/^extraParams is not a JSON object/) }),
    ]);
  });

  it('refuses an empty CSV file: it needs a header row', () => {
    expect(() => parseImportFile('', 'csv')).toThrow(UsageError);
  });
});
