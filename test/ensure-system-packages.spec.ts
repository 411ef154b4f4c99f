interface Requirement {
  path: string;
  pkg: string;
  usedBy: string;
}
// eslint-disable-next-line @typescript-eslint/no-require-imports
const { installCommand, missingPackages, REQUIRED } = require('../scripts/ensure-system-packages.js') as {
  installCommand: (pkgs: string[]) => string;
  missingPackages: (required: Requirement[], exists: (path: string) => boolean) => string[];
  REQUIRED: Requirement[];
};

/** The pretest step that installs the Debian tools the suite drives (scripts/ensure-system-packages.js). */
describe('ensure-system-packages', () => {
  const required = [
    { path: '/usr/bin/chromium', pkg: 'chromium', usedBy: 'console e2e' },
    { path: '/usr/bin/promtool', pkg: 'prometheus', usedBy: 'metrics' },
    { path: '/usr/bin/redis-cli', pkg: 'redis-tools', usedBy: 'redis' },
    { path: '/usr/bin/redis-benchmark', pkg: 'redis-tools', usedBy: 'bench' },
  ];

  it('names each package whose file is missing, once', () => {
    const present = new Set(['/usr/bin/promtool']);
    expect(missingPackages(required, (path: string) => present.has(path))).toEqual(['chromium', 'redis-tools']);
    expect(missingPackages(required, () => true)).toEqual([]);
  });

  it('tells a non-root user the exact command', () => {
    expect(installCommand(['chromium', 'prometheus'])).toBe('apt-get update && apt-get install -y chromium prometheus');
  });

  it("covers Debian's chromium for the console e2e, with the path playwright-core launches", () => {
    expect(REQUIRED).toContainEqual(expect.objectContaining({ path: '/usr/bin/chromium', pkg: 'chromium' }));
  });
});
