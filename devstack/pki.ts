/** A throwaway CA and the certificates it issues, made with the openssl CLI (EC P-256 keys). */
import { execFileSync } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';

function openssl(args: string[], cwd: string): void {
  try {
    execFileSync('openssl', args, { cwd, stdio: ['ignore', 'ignore', 'pipe'] });
  } catch (err) {
    const e = err as NodeJS.ErrnoException & { stderr?: Buffer };
    if (e.code === 'ENOENT') throw new Error('the openssl CLI is missing: install it (Debian: apt-get install openssl) to make certificates');
    throw new Error(`openssl ${args[0]} failed: ${e.stderr?.toString() ?? e.message}`);
  }
}

export interface IssuedCert {
  readonly cert: string;
  readonly key: string;
}

export interface Ca {
  readonly dir: string;
  readonly cert: string;
  readonly key: string;
  /**
   * Issues a certificate: `subject` like `/CN=admin/O=system:masters`, `ext` the openssl
   * extension lines (e.g. `subjectAltName=IP:127.0.0.1` and `extendedKeyUsage=serverAuth`).
   */
  issue(name: string, subject: string, ext: readonly string[]): IssuedCert;
}

export function ecKey(dir: string, name: string): string {
  openssl(['genpkey', '-algorithm', 'EC', '-pkeyopt', 'ec_paramgen_curve:P-256', '-out', `${name}.key`], dir);
  return path.join(dir, `${name}.key`);
}

/** The public half of a key file, written next to it as `<name>.pub`. */
export function publicKey(dir: string, name: string): string {
  openssl(['pkey', '-in', `${name}.key`, '-pubout', '-out', `${name}.pub`], dir);
  return path.join(dir, `${name}.pub`);
}

/** A new CA in dir (files `<name>.crt`, `<name>.key`), valid for two days. */
export function createCa(dir: string, name = 'ca', commonName = 'llm-authz dev CA'): Ca {
  mkdirSync(dir, { recursive: true });
  const key = ecKey(dir, name);
  openssl(
    [
      'req',
      '-x509',
      '-new',
      '-key',
      `${name}.key`,
      '-subj',
      `/CN=${commonName}`,
      '-days',
      '2',
      '-out',
      `${name}.crt`,
      '-addext',
      'basicConstraints=critical,CA:TRUE',
      '-addext',
      'keyUsage=critical,keyCertSign,cRLSign',
    ],
    dir,
  );
  return {
    dir,
    cert: path.join(dir, `${name}.crt`),
    key,
    issue(certName, subject, ext) {
      const k = ecKey(dir, certName);
      openssl(['req', '-new', '-key', `${certName}.key`, '-subj', subject, '-out', `${certName}.csr`], dir);
      writeFileSync(path.join(dir, `${certName}.ext`), `basicConstraints=critical,CA:FALSE\n${ext.join('\n')}\n`);
      openssl(
        [
          'x509',
          '-req',
          '-in',
          `${certName}.csr`,
          '-CA',
          `${name}.crt`,
          '-CAkey',
          `${name}.key`,
          '-CAcreateserial',
          '-days',
          '1',
          '-out',
          `${certName}.crt`,
          '-extfile',
          `${certName}.ext`,
        ],
        dir,
      );
      return { cert: path.join(dir, `${certName}.crt`), key: k };
    },
  };
}

/** A server certificate for 127.0.0.1 and localhost. */
export function loopbackServerCert(ca: Ca, name: string): IssuedCert {
  return ca.issue(name, '/CN=localhost', ['subjectAltName=DNS:localhost,IP:127.0.0.1', 'extendedKeyUsage=serverAuth', 'keyUsage=critical,digitalSignature']);
}
