/**
 * The shape of an llm-authz API key, `lla_<id>_<secret>` (the prefix lets secret scanners find a
 * leaked key): read by identity, and searched for in headers and URLs that must not carry one.
 */
export const API_KEY_PREFIX = 'lla_';

/** A whole key: the id (group 1) and the secret (group 2). */
export const API_KEY_RE = /^lla_([A-Za-z0-9]{4,32})_([A-Za-z0-9_-]{16,128})$/;

/** A key (its id and the first 16 characters of a secret) anywhere in a text. */
export const API_KEY_SHAPE = /lla_[A-Za-z0-9]{4,32}_[A-Za-z0-9_-]{16}/;

const KEY_SECRETS = /(lla_[A-Za-z0-9]{4,32}_)[A-Za-z0-9_-]{16,}/g;

/** The text with the secret part of every key in it replaced by `…` (the public id stays). */
export function redactKeys(text: string): string {
  return text.includes('lla_') ? text.replace(KEY_SECRETS, '$1…') : text;
}
