/** A test CA and certificates (server, SPIFFE client SVIDs) made with the openssl CLI. */
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
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
  /**
   * Issues a client certificate whose URI SAN is the given SPIFFE ID; returns file paths. With
   * `validity`, the certificate is valid exactly from..to (e.g. expired, or not yet valid);
   * with `san`, that is its whole subjectAltName (e.g. two URIs, or a DNS name only).
   */
  client(name: string, spiffeId: string, opts?: { validity?: Validity; san?: string }): { cert: string; key: string };
  read(file: string): string;
}

export interface Validity {
  readonly from: Date;
  readonly to: Date;
}

/** openssl ca's date format: YYYYMMDDHHMMSSZ (UTC). */
function asn1Time(d: Date): string {
  return `${d.toISOString().replace(/[-:T]/g, '').slice(0, 14)}Z`;
}

/** A minimal `openssl ca` setup: `openssl x509 -req` can only start a certificate now. */
const CA_CONFIG = `[ca]
default_ca = test_ca
[test_ca]
database = ca-index.txt
new_certs_dir = .
serial = ca-serial
default_md = sha256
policy = any
unique_subject = no
[any]
organizationName = optional
commonName = optional
`;

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
  const issueDated = (name: string, subject: string, ext: string, v: Validity): { cert: string; key: string } => {
    const k = key(name);
    openssl(['req', '-new', '-key', `${name}.key`, '-subj', subject, '-out', `${name}.csr`], dir);
    writeFileSync(path.join(dir, `${name}.ext`), ext);
    if (!existsSync(path.join(dir, 'ca.cnf'))) {
      writeFileSync(path.join(dir, 'ca.cnf'), CA_CONFIG);
      writeFileSync(path.join(dir, 'ca-index.txt'), '');
      writeFileSync(path.join(dir, 'ca-serial'), '1000\n');
    }
    openssl(
      [
        'ca',
        '-batch',
        '-notext',
        '-config',
        'ca.cnf',
        '-cert',
        'ca.crt',
        '-keyfile',
        'ca.key',
        '-in',
        `${name}.csr`,
        '-out',
        `${name}.crt`,
        '-extfile',
        `${name}.ext`,
        '-startdate',
        asn1Time(v.from),
        '-enddate',
        asn1Time(v.to),
      ],
      dir,
    );
    return { cert: path.join(dir, `${name}.crt`), key: k };
  };
  const server = issue('server', '/CN=localhost', 'subjectAltName=DNS:localhost,IP:127.0.0.1\nextendedKeyUsage=serverAuth\nbasicConstraints=critical,CA:FALSE\n');
  return {
    dir,
    caCert: path.join(dir, 'ca.crt'),
    serverCert: server.cert,
    serverKey: server.key,
    client: (name, spiffeId, opts = {}) => {
      const ext = `subjectAltName=${opts.san ?? `URI:${spiffeId}`}\nextendedKeyUsage=clientAuth\nbasicConstraints=critical,CA:FALSE\nkeyUsage=critical,digitalSignature\n`;
      return opts.validity ? issueDated(name, '/O=SPIFFE', ext, opts.validity) : issue(name, '/O=SPIFFE', ext);
    },
    read: (file) => readFileSync(file, 'utf8'),
  };
}
