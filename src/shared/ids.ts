import { randomBytes } from 'node:crypto';
import { v7 as uuidv7 } from 'uuid';

/** Id and nonce sources, injected so tests can make them deterministic. */
export interface IdSource {
  /** A time-ordered UUID (version 7): event ids sort by creation time. */
  uuid(): string;
  /** A 32-hex-digit random nonce (the form the official SDK sends). */
  nonce(): string;
}

export const randomIds: IdSource = {
  uuid: () => uuidv7(),
  nonce: () => randomBytes(16).toString('hex'),
};

/** Deterministic ids for tests: counters rendered in the same shapes as the real ones. */
export function createSequentialIds(prefix = 0): IdSource {
  let n = 0;
  const hex = (width: number) => (prefix * 1_000_000 + ++n).toString(16).padStart(width, '0');
  return {
    uuid: () => {
      const h = hex(32);
      return `${h.slice(0, 8)}-${h.slice(8, 12)}-7${h.slice(13, 16)}-8${h.slice(17, 20)}-${h.slice(20, 32)}`;
    },
    nonce: () => hex(32),
  };
}
