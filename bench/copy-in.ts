import type pg from 'pg';

/**
 * `COPY … FROM STDIN` with node-postgres alone (pg-copy-streams is not a dependency): a
 * "submittable" query object, the extension point `client.query(submittable)` offers. The server
 * answers the COPY statement with CopyInResponse; we send the whole payload as CopyData messages,
 * then CopyDone, and settle on ReadyForQuery. Enough for a benchmark's reference figure, not a
 * general COPY client (no streaming back-pressure: the payload is built in memory first).
 */
export function copyFromStdin(
  client: pg.Client | pg.PoolClient,
  text: string,
  payload: string,
): Promise<number> {
  return new Promise((resolve, reject) => {
    let rows = 0;
    let failure: Error | undefined;
    const query = {
      submit(connection: CopyConnection) {
        connection.query(text);
      },
      handleCopyInResponse(connection: CopyConnection) {
        const data = Buffer.from(payload, 'utf8');
        const chunk = 1 << 16;
        for (let offset = 0; offset < data.length; offset += chunk)
          connection.sendCopyFromChunk(data.subarray(offset, offset + chunk));
        connection.endCopyFrom();
      },
      handleCommandComplete(message: { text: string }) {
        rows = Number(message.text.split(' ')[1] ?? 0);
      },
      handleError(error: Error) {
        failure = error;
      },
      handleReadyForQuery() {
        if (failure) reject(failure);
        else resolve(rows);
      },
      handleRowDescription() {},
      handleDataRow() {},
      handleEmptyQuery() {},
      handlePortalSuspended() {},
      handleCopyData() {},
    };
    // The submittable overload of `query` is untyped in @types/pg.
    (client as unknown as { query(submittable: object): void }).query(query);
  });
}

interface CopyConnection {
  query(text: string): void;
  sendCopyFromChunk(chunk: Buffer): void;
  endCopyFrom(): void;
}

/** One field in COPY text format: `\N` for null, backslash escapes for the four special bytes. */
export function copyField(value: string | number | boolean | null): string {
  if (value === null) return '\\N';
  if (typeof value === 'boolean') return value ? 't' : 'f';
  if (typeof value === 'number') return String(value);
  return /[\\\t\n\r]/.test(value)
    ? value.replaceAll('\\', '\\\\').replaceAll('\t', '\\t').replaceAll('\n', '\\n').replaceAll('\r', '\\r')
    : value;
}
