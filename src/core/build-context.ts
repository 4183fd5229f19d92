/** What every area's builder is told about the config it builds from (set by src/pipeline/runtime.ts). */

/**
 * What happened to a provider credential, for the service log and health (never the value): its
 * file was reloaded, or kept after a bad change; or an access token was minted from it, or could
 * not be.
 */
export interface CredentialReloadEvent {
  /** The credential file (or environment variable) concerned. */
  readonly file: string;
  readonly outcome: 'reloaded' | 'kept_last_good' | 'token_minted' | 'token_failed';
  readonly problem?: string;
}

export type CredentialReloadListener = (e: CredentialReloadEvent) => void;

/** What a reload of the API key store file did, for health, metrics and the log (never a key). */
export interface KeyStoreReloadEvent {
  readonly file: string;
  readonly outcome: 'reloaded' | 'kept_last_good';
  readonly problem?: string;
}

export type KeyStoreReloadListener = (e: KeyStoreReloadEvent) => void;

export interface BuildContext {
  /** Where the config came from (a path, or `built-in default`). */
  readonly source: string;
  /** A short hash of the config text. */
  readonly version: string;
  /** Relative paths in the config are resolved against this folder. */
  readonly baseDir: string;
  /** Told when a provider credential file is reloaded (or kept after a bad change). */
  readonly onCredentialReload?: CredentialReloadListener | undefined;
  /** Told when the API key store file is reloaded (or kept after a bad change). */
  readonly onKeyStoreReload?: KeyStoreReloadListener | undefined;
  /** Told when the revocation list file is reloaded (or kept after a bad change); same events as the key store's. */
  readonly onRevocationListReload?: KeyStoreReloadListener | undefined;
}
