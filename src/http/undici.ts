/**
 * undici as the project uses it: `Agent` and `Dispatcher#request`, loaded from the package's own
 * files rather than through its index. The index also builds fetch, WebSocket, EventSource, the
 * cache stores and the mocks, ~50 ms of every command's start-up, while the project needs an
 * agent and `request`. undici publishes no export map, so these files are reachable; the test
 * beside this file checks that they are the very objects the index exports, so an upgrade that
 * moves them fails there, not in production. Every runtime undici import of `src/` goes through
 * here (types come from 'undici' itself; tests may use the index, e.g. for MockAgent).
 */
import { createRequire } from 'node:module';
import type { Dispatcher, Agent as UndiciAgent } from 'undici';

export type { Dispatcher } from 'undici';

const require = createRequire(import.meta.url);

export const Agent = require('undici/lib/dispatcher/agent.js') as typeof import('undici').Agent;
export type Agent = UndiciAgent;

type RequestWith = (this: Dispatcher, options: Dispatcher.RequestOptions) => Promise<Dispatcher.ResponseData>;
const requestWith = require('undici/lib/api/api-request.js') as RequestWith;

/**
 * `dispatcher.request(options)`: one request through any dispatcher (an Agent, a MockAgent in
 * tests), its response body to be read or dumped by the caller.
 */
export function request(
  dispatcher: Dispatcher,
  options: Dispatcher.RequestOptions,
): Promise<Dispatcher.ResponseData> {
  return requestWith.call(dispatcher, options);
}

/** A whole URL as the `origin` and `path` (with its query) that `request` takes, as undici's own top-level `request(url)` splits it. */
export function originAndPath(url: string | URL): { origin: string; path: string } {
  const parsed = typeof url === 'string' ? new URL(url) : url;
  return { origin: parsed.origin, path: `${parsed.pathname}${parsed.search}` };
}

/**
 * At most `maxBytes` of a response body as UTF-8 text, and whether the body went on (`cut`); a
 * longer body is cut there and its connection dropped, so an endless answer costs that much.
 */
export async function readCapped(
  body: AsyncIterable<Buffer>,
  maxBytes: number,
): Promise<{ text: string; cut: boolean }> {
  const chunks: Buffer[] = [];
  let length = 0;
  for await (const chunk of body) {
    chunks.push(chunk);
    length += chunk.length;
    // Leaving the loop destroys the body (and its socket) rather than reading on.
    if (length > maxBytes) break;
  }
  return { text: Buffer.concat(chunks).subarray(0, maxBytes).toString('utf8'), cut: length > maxBytes };
}
