/** What every area's builder is told about the config it builds from (set by src/pipeline/runtime.ts). */

/**
 * What happened to a provider credential, for the service log (never the value): its file was
 * reloaded, or kept after a bad change; or an access token could not be minted from it.
 */
export interface CredentialReloadEvent {
  /** The credential file (or environment variable) concerned. */
  readonly file: string;
  readonly outcome: 'reloaded' | 'kept_last_good' | 'token_failed';
  readonly problem?: string;
}

export type CredentialReloadListener = (e: CredentialReloadEvent) => void;

export interface BuildContext {
  /** Where the config came from (a path, or `built-in default`). */
  readonly source: string;
  /** A short hash of the config text. */
  readonly version: string;
  /** Relative paths in the config are resolved against this folder. */
  readonly baseDir: string;
  /** Told when a provider credential file is reloaded (or kept after a bad change). */
  readonly onCredentialReload?: CredentialReloadListener | undefined;
}
