import { cpSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadScripts } from './script-loader';

const LUA_DIR = join(__dirname, '..', 'lua');
const scriptFiles = readdirSync(LUA_DIR).filter((file) => file.endsWith('.lua'));

describe('the Lua scripts and their loader', () => {
  it('loads one script per signature, with the key count its file name gives', () => {
    const scripts = loadScripts();
    expect([...scripts.keys()].sort()).toEqual(scriptFiles.map((file) => file.replace(/-(\d+|n)\.lua$/, '')).sort());
    expect(scripts.get('updateClient')?.numberOfKeys).toBe(2);
    expect(scripts.get('releaseLock')?.numberOfKeys).toBe(1);
    expect(scripts.get('extendLocks')?.numberOfKeys).toBeUndefined();
  });

  it.each(scriptFiles)('%s opens with a header naming its KEYS, ARGV and reply; uses only those keys', (file) => {
    const source = readFileSync(join(LUA_DIR, file), 'utf8');
    const header = /^--\[\[([\s\S]*?)\]\]/.exec(source)?.[1] ?? '';
    expect(header).toMatch(/Input:/);
    expect(header).toMatch(/ARGV\[1\]/);
    expect(header).toMatch(/Output:/);
    const keyCount = /-(\d+|n)\.lua$/.exec(file)?.[1];
    if (keyCount === 'n') {
      expect(header).toMatch(/KEYS\[1\.\.n\]/);
      return;
    }
    for (let index = 1; index <= Number(keyCount); index += 1) expect(header).toContain(`KEYS[${index}]`);
    const body = source.slice(source.indexOf(']]'));
    const usedKeys = [...body.matchAll(/KEYS\[(\d+)\]/g)].map((match) => Number(match[1]));
    expect(Math.max(0, ...usedKeys)).toBeLessThanOrEqual(Number(keyCount));
  });

  it('inlines each include once, and sends no positional sentinels', () => {
    for (const [name, { lua }] of loadScripts()) {
      expect(lua).not.toMatch(/@include/);
      expect(lua).not.toMatch(/~= ''|== ''|== 'null'/);
      expect(lua.match(/local function (\w+)/g) ?? []).toEqual([...new Set(lua.match(/local function (\w+)/g) ?? [])]);
      expect(name).toMatch(/^[a-zA-Z]+$/);
    }
    expect(loadScripts().get('extendLocks')?.lua).toContain('local function extendLockIfOwned');
  });

  describe('with a directory out of step with the signatures', () => {
    let directory: string;

    beforeEach(() => {
      directory = mkdtempSync(join(tmpdir(), 'lua-'));
      cpSync(LUA_DIR, directory, { recursive: true });
    });

    afterEach(() => rmSync(directory, { recursive: true, force: true }));

    it('refuses a script that has no signature', () => {
      writeFileSync(join(directory, 'stray-1.lua'), 'return 1');
      expect(() => loadScripts(directory)).toThrow(/stray-1.lua has no signature/);
    });

    it('refuses a signature whose script is missing', () => {
      rmSync(join(directory, 'claimDue-1.lua'));
      expect(() => loadScripts(directory)).toThrow(/missing .*claimDue/);
    });
  });
});
