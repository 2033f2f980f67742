import { inspect } from 'node:util';

const REDACTED = '[redacted]';

/**
 * A secret value (access key secret, security token, webhook secret). Every way of turning it into
 * text (string conversion, JSON, util.inspect, pino serialisation) yields `[redacted]`, so a secret
 * cannot reach a log line, an error or job data by accident; only `reveal()` gives the value.
 */
export class Secret {
  readonly #value: string;

  constructor(value: string) {
    this.#value = value;
  }

  reveal(): string {
    return this.#value;
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
