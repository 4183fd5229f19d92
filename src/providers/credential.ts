/**
 * A provider credential as the request path holds it: a key (`Secret`), an AWS access key
 * (`AwsKeys`, which signs), or a Google service account (`ServiceAccount`, which mints access
 * tokens). Each prints as `[redacted]`. Loaded once from the config, files watched.
 */
import path from 'node:path';
import { ConfigError } from '../core/errors.ts';
import { Secret } from '../core/secret.ts';
import type { CredentialKind } from '../apis/index.ts';
import { AwsKeys } from './aws-sigv4.ts';
import { watchedCredential, type CredentialReloadListener } from './credential-file.ts';
import { ServiceAccount } from './google-token.ts';
import type { CredentialSource, SecretSource } from './schema.ts';

export type ProviderCredential = Secret | AwsKeys | ServiceAccount;

export function credentialKind(c: ProviderCredential): CredentialKind {
  return c instanceof Secret ? 'key' : c.kind;
}

export interface LoadedCredential {
  readonly credential: ProviderCredential;
  readonly close: () => void;
}

interface LoadedSecret {
  readonly secret: Secret;
  readonly origin: string;
  readonly close: () => void;
}

function readSecret(c: Pick<SecretSource, 'file' | 'env'>, baseDir: string, where: string, onReload?: CredentialReloadListener): LoadedSecret {
  if (c.env !== undefined) {
    const v = process.env[c.env];
    if (v === undefined || v.trim() === '') throw new ConfigError(where, [`environment variable ${c.env} is not set`]);
    return { secret: new Secret(v.trim()), origin: `$${c.env}`, close: () => undefined };
  }
  const file = path.resolve(baseDir, c.file ?? '');
  try {
    return { ...watchedCredential(file, onReload), origin: file };
  } catch (err) {
    throw new ConfigError(where, [err instanceof Error ? err.message : 'cannot read the credential file']);
  }
}

/** Loads a credential of any kind (throws ConfigError naming `where`, never a value). */
export function loadCredential(c: CredentialSource, baseDir: string, where: string, onReload?: CredentialReloadListener): LoadedCredential {
  if (c.aws !== undefined) {
    const aws = c.aws;
    const parts: LoadedSecret[] = [];
    const closeAll = (): void => {
      for (const p of parts) p.close();
    };
    try {
      const id = readSecret(aws.access_key_id, baseDir, `${where}.aws.access_key_id`, onReload);
      parts.push(id);
      const key = readSecret(aws.secret_access_key, baseDir, `${where}.aws.secret_access_key`, onReload);
      parts.push(key);
      const token = aws.session_token === undefined ? undefined : readSecret(aws.session_token, baseDir, `${where}.aws.session_token`, onReload);
      if (token !== undefined) parts.push(token);
      return { credential: new AwsKeys(id.secret, key.secret, token?.secret), close: closeAll };
    } catch (err) {
      closeAll();
      throw err;
    }
  }
  if (c.service_account !== undefined) {
    const key = readSecret(c.service_account, baseDir, `${where}.service_account`, onReload);
    try {
      const sa = new ServiceAccount({ key: key.secret, origin: key.origin, tokenUrl: c.token_url, onEvent: onReload });
      return {
        credential: sa,
        close: () => {
          sa.close();
          key.close();
        },
      };
    } catch (err) {
      key.close();
      throw new ConfigError(`${where}.service_account`, [err instanceof Error ? err.message : 'not a service-account key']);
    }
  }
  const s = readSecret(c, baseDir, where, onReload);
  return { credential: s.secret, close: s.close };
}
