/** The identity area's log (key store reloads, JWKS refreshes); never a credential or a token. */
import { createLogger, type Logger } from '../telemetry/log.ts';

let log: Logger | undefined;

export function identityLog(): Logger {
  log ??= createLogger('info');
  return log;
}

/** Makes the identity area log through the server's logger (and so at its configured level). */
export function setIdentityLogger(logger: Logger): void {
  log = logger;
}
