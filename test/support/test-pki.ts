import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/** A PEM certificate with its PKCS#8 key. */
export interface Issued {
  certificate: string;
  privateKey: string;
}

/**
 * Certificate authorities and certificates made at test time with the
 * openssl command line (P-256 keys, PKCS#8), in a temporary directory.
 */
export class TestPki {
  readonly dir = mkdtempSync(join(tmpdir(), 'tb-pki-'));
  private serial = 1;

  /** A self-signed CA; `path` is where its certificate is, for NODE_EXTRA_CA_CERTS. */
  ca(name: string): Issued & { path: string } {
    this.openssl(
      'req',
      '-x509',
      '-newkey',
      'ec',
      '-pkeyopt',
      'ec_paramgen_curve:P-256',
      '-nodes',
      '-keyout',
      `${name}.key`,
      '-out',
      `${name}.pem`,
      '-subj',
      `/CN=${name}`,
      '-days',
      '2',
      '-addext',
      'basicConstraints=critical,CA:TRUE',
      '-addext',
      'keyUsage=critical,keyCertSign,cRLSign',
    );
    return { ...this.read(name), path: join(this.dir, `${name}.pem`) };
  }

  /** A certificate for `commonName` signed by `ca`, valid for `days` (negative: already expired); SANs as openssl writes them. */
  issue(
    ca: string,
    name: string,
    commonName: string,
    options: { days?: number; san?: string; usage?: 'serverAuth' | 'clientAuth' | 'serverAuth,clientAuth' } = {},
  ): Issued {
    this.openssl(
      'req',
      '-new',
      '-newkey',
      'ec',
      '-pkeyopt',
      'ec_paramgen_curve:P-256',
      '-nodes',
      '-keyout',
      `${name}.key`,
      '-out',
      `${name}.csr`,
      '-subj',
      `/CN=${commonName}`,
    );
    const extensions = [
      `extendedKeyUsage=${options.usage ?? 'clientAuth'}`,
      ...(options.san ? [`subjectAltName=${options.san}`] : []),
    ];
    writeFileSync(join(this.dir, `${name}.ext`), `${extensions.join('\n')}\n`);
    this.openssl(
      'x509',
      '-req',
      '-in',
      `${name}.csr`,
      '-CA',
      `${ca}.pem`,
      '-CAkey',
      `${ca}.key`,
      '-set_serial',
      String(this.serial++),
      '-out',
      `${name}.pem`,
      '-days',
      String(options.days ?? 2),
      '-extfile',
      `${name}.ext`,
    );
    return this.read(name);
  }

  remove(): void {
    rmSync(this.dir, { recursive: true, force: true });
  }

  private read(name: string): Issued {
    return {
      certificate: readFileSync(join(this.dir, `${name}.pem`), 'utf8'),
      privateKey: readFileSync(join(this.dir, `${name}.key`), 'utf8'),
    };
  }

  private openssl(...args: string[]): void {
    execFileSync('openssl', args, { cwd: this.dir, stdio: 'pipe' });
  }
}
