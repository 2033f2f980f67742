import type pg from 'pg';
import { copyText, copyField as copyTypedField } from '../src/db/copy-rows.ts';

/** `COPY … FROM STDIN` of a payload in COPY text format, through the product's COPY client; rows written. */
export function copyFromStdin(
  client: pg.Client | pg.PoolClient,
  text: string,
  payload: string,
): Promise<number> {
  return copyText(client, text, [payload]);
}

/** One untyped field in COPY text format (booleans as `t`/`f`, the rest as text), as the product writes it. */
export function copyField(value: string | number | boolean | null): string {
  return copyTypedField(value, typeof value === 'boolean' ? 'boolean' : 'text');
}
