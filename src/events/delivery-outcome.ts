import type { WebhookFormat } from '../db/schema/index.ts';
import { errorMessage } from '../shared/app-error.ts';
import { displayText } from '../shared/display-text.ts';

/**
 * The one mapping point from an endpoint's answer (or a failure to get one) to what the delivery
 * does next:
 * - `delivered`: 2xx, and for DingTalk/WeCom/Feishu a body whose error code is 0 (they answer
 *   HTTP 200 with an error code in the body: a keyword mismatch, a bad signature, a rate limit);
 *   Slack answers `ok`.
 * - `gone`: 410 — the endpoint is disabled and its pending deliveries end dead.
 * - `failed`: anything else (3xx is not followed, 4xx, 5xx, a timeout, a refused connection):
 *   retried on the schedule. `retryAfterMs` carries a 429/503 `Retry-After`.
 */
export type DeliveryOutcome =
  | { kind: 'delivered'; statusCode: number }
  | { kind: 'gone'; statusCode: number }
  | { kind: 'failed'; statusCode: number | null; error: string; retryAfterMs?: number };

/**
 * What an error shows of an endpoint's answer: its secrets scrubbed before anything is cut (a cut
 * token would no longer be recognised), then on one line, without terminal escapes or other
 * control characters, at most 200 characters.
 */
type Snippet = (text: string) => string;

const snippetWith =
  (scrub: (text: string) => string): Snippet =>
  (text) =>
    displayText(scrub(text).replace(/\s+/g, ' ').trim(), 200);

/** The error code a chat platform put in an HTTP 200 body, or undefined when it reports success. */
function chatBodyError(format: WebhookFormat, body: string, snippet: Snippet): string | undefined {
  if (format === 'standard') return undefined;
  if (format === 'slack')
    return body.trim() === 'ok' ? undefined : `Slack answered ${snippet(body) || '(empty)'}`;
  let parsed: unknown;
  try {
    parsed = JSON.parse(body);
  } catch {
    return `${format} answered a body that is not JSON: ${snippet(body) || '(empty)'}`;
  }
  const record = (parsed ?? {}) as Record<string, unknown>;
  // DingTalk and WeCom: errcode/errmsg; Feishu: code/msg (StatusCode is a legacy duplicate).
  const [codeKey, messageKey] = format === 'feishu' ? ['code', 'msg'] : ['errcode', 'errmsg'];
  const code = record[codeKey];
  if (code === 0 || code === '0') return undefined;
  return `${format} ${codeKey} ${code === undefined ? '(missing)' : String(code)}: ${snippet(String(record[messageKey] ?? ''))}`;
}

/** Seconds or an HTTP date, as ms from `nowMs`; undefined when absent or unreadable. */
export function parseRetryAfter(value: string | undefined, nowMs: number): number | undefined {
  if (value === undefined) return undefined;
  if (/^\d+$/.test(value.trim())) return Number(value.trim()) * 1000;
  const at = Date.parse(value);
  return Number.isNaN(at) ? undefined : Math.max(0, at - nowMs);
}

export function outcomeOfResponse(
  format: WebhookFormat,
  statusCode: number,
  body: string,
  retryAfter: string | undefined,
  nowMs: number,
  scrub: (text: string) => string = (text) => text,
): DeliveryOutcome {
  if (statusCode === 410) return { kind: 'gone', statusCode };
  const snippet = snippetWith(scrub);
  if (statusCode >= 200 && statusCode < 300) {
    const error = chatBodyError(format, body, snippet);
    return error === undefined ? { kind: 'delivered', statusCode } : { kind: 'failed', statusCode, error };
  }
  const reason = statusCode >= 300 && statusCode < 400 ? 'redirect not followed' : snippet(body) || 'no body';
  const retryAfterMs =
    statusCode === 429 || statusCode === 503 ? parseRetryAfter(retryAfter, nowMs) : undefined;
  return {
    kind: 'failed',
    statusCode,
    error: `HTTP ${statusCode}: ${reason}`,
    ...(retryAfterMs === undefined ? {} : { retryAfterMs }),
  };
}

/** undici / socket error codes in words; the message of anything else. Never includes the URL. */
const ERROR_CODES: Record<string, string> = {
  UND_ERR_CONNECT_TIMEOUT: 'connect timed out',
  UND_ERR_HEADERS_TIMEOUT: 'timed out waiting for the response headers',
  UND_ERR_BODY_TIMEOUT: 'timed out reading the response body',
  UND_ERR_SOCKET: 'connection closed by the endpoint',
  ECONNREFUSED: 'connection refused',
  ECONNRESET: 'connection reset',
  ENOTFOUND: 'host not found',
  EAI_AGAIN: 'host name lookup failed',
  EHOSTUNREACH: 'host unreachable',
  ETIMEDOUT: 'connection timed out',
};

/** No answer: why, in words; anything but a known code is the error's own message, `scrub`bed. */
export function outcomeOfError(
  error: unknown,
  timeoutMs: number,
  scrub: (text: string) => string = (text) => text,
): DeliveryOutcome {
  const code = (error as { code?: unknown } | null)?.code;
  const name = (error as { name?: unknown } | null)?.name;
  if (name === 'TimeoutError' || (name === 'AbortError' && String(errorMessage(error)).includes('timeout'))) {
    return { kind: 'failed', statusCode: null, error: `timed out after ${timeoutMs}ms` };
  }
  const known = typeof code === 'string' ? ERROR_CODES[code] : undefined;
  const cause = (error as { cause?: { code?: unknown } } | null)?.cause?.code;
  const fromCause = typeof cause === 'string' ? ERROR_CODES[cause] : undefined;
  return { kind: 'failed', statusCode: null, error: known ?? fromCause ?? scrub(errorMessage(error)) };
}
