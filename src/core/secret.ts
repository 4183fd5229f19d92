import { inspect } from 'node:util';

const REDACTED = '[redacted]';

/** A secret value that prints, serialises and inspects as `[redacted]`; read it with `reveal()`. */
export class Secret {
  #value: string;
  constructor(value: string) {
    this.#value = value;
  }
  reveal(): string {
    return this.#value;
  }
  /** A secret whose holder can replace its value (a credential file that changed). */
  static reloadable(value: string): { readonly secret: Secret; set(value: string): void } {
    const secret = new Secret(value);
    return {
      secret,
      set(v: string): void {
        secret.#value = v;
      },
    };
  }
  toString(): string {
    return REDACTED;
  }
  toJSON(): string {
    return REDACTED;
  }
  [inspect.custom](): string {
    return REDACTED;
  }
}
