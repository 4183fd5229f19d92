/** A test CA and certificates (server, SPIFFE client SVIDs) made with the openssl CLI. */
import { execFileSync } from 'node:child_process';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';

function openssl(args: string[], cwd: string): void {
  try {
    execFileSync('openssl', args, { cwd, stdio: ['ignore', 'ignore', 'pipe'] });
  } catch (err) {
    const e = err as NodeJS.ErrnoException & { stderr?: Buffer };
    if (e.code === 'ENOENT') throw new Error('the openssl CLI is missing: install it (Debian: apt-get install openssl) to generate test certificates');
    throw new Error(`openssl ${args[0]} failed: ${e.stderr?.toString() ?? e.message}`);
  }
}

export interface Pki {
  readonly dir: string;
  readonly caCert: string;
  readonly serverCert: string;
  readonly serverKey: string;
  /** Issues a client certificate whose URI SAN is the given SPIFFE ID; returns file paths. */
  client(name: string, spiffeId: string): { cert: string; key: string };
  read(file: string): string;
}

/** A fresh CA under dir, with a server certificate for 127.0.0.1 / localhost. */
export function createPki(dir: string): Pki {
  mkdirSync(dir, { recursive: true });
  const key = (name: string): string => {
    openssl(['genpkey', '-algorithm', 'EC', '-pkeyopt', 'ec_paramgen_curve:P-256', '-out', `${name}.key`], dir);
    return path.join(dir, `${name}.key`);
  };
  key('ca');
  openssl(
    [
      'req',
      '-x509',
      '-new',
      '-key',
      'ca.key',
      '-subj',
      '/CN=llm-authz test CA',
      '-days',
      '2',
      '-out',
      'ca.crt',
      '-addext',
      'basicConstraints=critical,CA:TRUE',
      '-addext',
      'keyUsage=critical,keyCertSign,cRLSign',
    ],
    dir,
  );
  const issue = (name: string, subject: string, ext: string): { cert: string; key: string } => {
    const k = key(name);
    openssl(['req', '-new', '-key', `${name}.key`, '-subj', subject, '-out', `${name}.csr`], dir);
    writeFileSync(path.join(dir, `${name}.ext`), ext);
    openssl(['x509', '-req', '-in', `${name}.csr`, '-CA', 'ca.crt', '-CAkey', 'ca.key', '-CAcreateserial', '-days', '1', '-out', `${name}.crt`, '-extfile', `${name}.ext`], dir);
    return { cert: path.join(dir, `${name}.crt`), key: k };
  };
  const server = issue('server', '/CN=localhost', 'subjectAltName=DNS:localhost,IP:127.0.0.1\nextendedKeyUsage=serverAuth\nbasicConstraints=critical,CA:FALSE\n');
  return {
    dir,
    caCert: path.join(dir, 'ca.crt'),
    serverCert: server.cert,
    serverKey: server.key,
    client: (name, spiffeId) =>
      issue(name, `/O=SPIFFE`, `subjectAltName=URI:${spiffeId}\nextendedKeyUsage=clientAuth\nbasicConstraints=critical,CA:FALSE\nkeyUsage=critical,digitalSignature\n`),
    read: (file) => readFileSync(file, 'utf8'),
  };
}
