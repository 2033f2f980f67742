import { AppError } from '../shared/app-error.ts';
import { displayText } from '../shared/display-text.ts';
import { percentEncode } from './signer.ts';

/**
 * The one mapping point of the SWAS boundary: HTTP status, API `Code` and undici
 * `UND_ERR_*` / Node errno codes become an {@link AppError} with a `swas.*` code and a `retryable`
 * flag, from the tables below. Messages name the action, region, page, API code, HTTP status and
 * RequestId, and never a secret: the gateway's `SignatureDoesNotMatch` message echoes the server's
 * string to sign (which can hold the security token), so it is cut, and every secret value is
 * scrubbed from whatever text remains.
 */

export type SwasErrorCode =
  | 'swas.throttled'
  | 'swas.unavailable'
  | 'swas.timeout'
  | 'swas.network'
  | 'swas.auth'
  | 'swas.forbidden'
  | 'swas.clock_skew'
  | 'swas.bad_request'
  | 'swas.unexpected_status'
  | 'swas.malformed_response'
  | 'swas.invalid_response'
  | 'swas.aborted';

export interface ErrorClass {
  code: SwasErrorCode;
  retryable: boolean;
}

const throttled: ErrorClass = { code: 'swas.throttled', retryable: true };
const unavailable: ErrorClass = { code: 'swas.unavailable', retryable: true };
const timeout: ErrorClass = { code: 'swas.timeout', retryable: true };
const network: ErrorClass = { code: 'swas.network', retryable: true };
const auth: ErrorClass = { code: 'swas.auth', retryable: false };
const forbidden: ErrorClass = { code: 'swas.forbidden', retryable: false };
const clockSkew: ErrorClass = { code: 'swas.clock_skew', retryable: false };
const badRequest: ErrorClass = { code: 'swas.bad_request', retryable: false };

/**
 * API `Code` → class. An entry ending in `*` matches that prefix (`Forbidden*` covers `Forbidden`,
 * `Forbidden.RAM`, …). The code wins over the HTTP status: the gateway answers `Throttling*` with
 * HTTP 400, and the official SDK also classifies throttling by code "at any status".
 */
export const API_CODE_TABLE: ReadonlyArray<readonly [pattern: string, ErrorClass]> = [
  ['Throttling', throttled],
  ['Throttling.*', throttled],
  ['ServiceUnavailable', unavailable],
  ['ServiceUnavailable.*', unavailable],
  ['InternalError', unavailable],
  ['SignatureDoesNotMatch', auth],
  ['IncompleteSignature', auth],
  ['InvalidAccessKeyId.NotFound', auth],
  ['InvalidAccessKeyId.Inactive', auth],
  ['InvalidAccessKeyId*', auth],
  ['InvalidSecurityToken*', auth],
  ['Forbidden*', forbidden],
  ['InvalidTimeStamp.Expired', clockSkew],
];

/**
 * HTTP status → class when the code is absent or not in {@link API_CODE_TABLE}. First match wins;
 * 3xx (redirects are not followed) and anything else unexpected is `swas.unexpected_status`.
 */
export function classifyStatus(httpStatus: number): ErrorClass {
  if (httpStatus === 429) return throttled;
  if (httpStatus >= 500 && httpStatus <= 599) return unavailable;
  if (httpStatus === 401) return auth;
  if (httpStatus === 403) return forbidden;
  if (httpStatus >= 400 && httpStatus <= 499) return badRequest;
  return { code: 'swas.unexpected_status', retryable: false };
}

/** Undici and Node errno codes → class. Codes not listed fail without retry as `swas.network`. */
export const TRANSPORT_CODE_TABLE: Readonly<Record<string, ErrorClass>> = {
  UND_ERR_CONNECT_TIMEOUT: timeout,
  UND_ERR_HEADERS_TIMEOUT: timeout,
  UND_ERR_BODY_TIMEOUT: timeout,
  ETIMEDOUT: timeout,
  UND_ERR_SOCKET: network,
  ECONNRESET: network,
  ECONNREFUSED: network,
  EPIPE: network,
  EAI_AGAIN: network,
  ENETUNREACH: network,
  EHOSTUNREACH: network,
};

const unknownTransport: ErrorClass = { code: 'swas.network', retryable: false };

export function classifyApiError(httpStatus: number, apiCode: string | undefined): ErrorClass {
  if (apiCode !== undefined) {
    for (const [pattern, errorClass] of API_CODE_TABLE) {
      const matches = pattern.endsWith('*') ? apiCode.startsWith(pattern.slice(0, -1)) : apiCode === pattern;
      if (matches) return errorClass;
    }
  }
  return classifyStatus(httpStatus);
}

/** The `code` of an undici/Node error, looking through `cause` (a few levels). */
export function transportCode(error: unknown): string | undefined {
  let current: unknown = error;
  for (let depth = 0; depth < 4 && current instanceof Error; depth++) {
    const code = (current as Error & { code?: unknown }).code;
    if (typeof code === 'string' && code !== '') return code;
    current = current.cause;
  }
  return undefined;
}

export function classifyTransportError(error: unknown): ErrorClass & { transportCode: string | undefined } {
  const code = transportCode(error);
  const errorClass = (code !== undefined ? TRANSPORT_CODE_TABLE[code] : undefined) ?? unknownTransport;
  return { ...errorClass, transportCode: code };
}

/** Where a failure happened: the operation, its region and page, for messages and `details`. */
export interface CallContext {
  action: string;
  regionId?: string | undefined;
  page?: number | undefined;
}

/** `ListCustomImages cn-hangzhou page 2`. */
export function describeCall(context: CallContext): string {
  return [context.action, context.regionId, context.page === undefined ? undefined : `page ${context.page}`]
    .filter((part) => part !== undefined)
    .join(' ');
}

const REDACTED = '[redacted]';
const MAX_MESSAGE_LENGTH = 300;

/** Replaces every occurrence of each secret (as is, and percent-encoded once or twice) with `[redacted]`. */
export function scrubSecrets(text: string, secrets: readonly string[]): string {
  let result = text;
  for (const secret of secrets) {
    if (secret === '') continue;
    const once = percentEncode(secret);
    for (const form of new Set([secret, once, percentEncode(once), encodeURIComponent(secret)])) {
      result = result.split(form).join(REDACTED);
    }
  }
  return result;
}

/**
 * The API `Message` made safe to show: everything from `server string to sign is` on is dropped
 * (the gateway echoes the string to sign, security token included), secrets are scrubbed,
 * whitespace collapsed and the length capped.
 */
export function cleanApiMessage(message: string, secrets: readonly string[]): string {
  const cut = message.replace(/\s*server\s+string\s*to\s*sign\s+is[\s\S]*$/i, '');
  const collapsed = scrubSecrets(cut, secrets).replace(/\s+/g, ' ').trim();
  return displayText(collapsed, MAX_MESSAGE_LENGTH);
}

/** API `Code` and `RequestId` are short tokens; anything longer or stranger is cut down to one. */
const MAX_TOKEN_LENGTH = 64;
const cleanToken = (text: string, secrets: readonly string[]): string =>
  displayText(scrubSecrets(text, secrets), MAX_TOKEN_LENGTH).replace(/\s+/g, '_');

export interface ApiErrorResponse {
  httpStatus: number;
  apiCode?: string | undefined;
  requestId?: string | undefined;
  message?: string | undefined;
  /** A wait the server asked for (Retry-After, throttling `TimeLeft`), in ms. */
  retryAfterMs?: number | undefined;
}

function baseDetails(context: CallContext): Record<string, unknown> {
  return {
    action: context.action,
    regionId: context.regionId,
    ...(context.page === undefined ? {} : { page: context.page }),
  };
}

/** An error answer of the API (HTTP ≥ 300), classified by its code and status. */
export function apiError(
  context: CallContext,
  response: ApiErrorResponse,
  secrets: readonly string[],
): AppError {
  const { code, retryable } = classifyApiError(
    response.httpStatus,
    response.apiCode === undefined ? undefined : response.apiCode.slice(0, MAX_TOKEN_LENGTH),
  );
  const cleaned = response.message === undefined ? '' : cleanApiMessage(response.message, secrets);
  const requestId = response.requestId === undefined ? undefined : cleanToken(response.requestId, secrets);
  const apiCode = response.apiCode === undefined ? undefined : cleanToken(response.apiCode, secrets);
  const where = [
    `HTTP ${response.httpStatus}`,
    requestId === undefined ? undefined : `RequestId ${requestId}`,
  ]
    .filter((part) => part !== undefined)
    .join(', ');
  const message = `${describeCall(context)}: ${apiCode ?? 'error'} (${where})${cleaned === '' ? '' : `: ${cleaned}`}`;
  return new AppError(code, message, {
    retryable,
    details: {
      ...baseDetails(context),
      apiCode,
      httpStatus: response.httpStatus,
      requestId,
      ...(response.retryAfterMs === undefined ? {} : { retryAfterMs: response.retryAfterMs }),
    },
  });
}

/** A request that failed below HTTP (connect, socket, undici timeouts). */
export function transportError(context: CallContext, error: unknown, secrets: readonly string[]): AppError {
  const { code, retryable, transportCode: errno } = classifyTransportError(error);
  const text = displayText(scrubSecrets(error instanceof Error ? error.message : String(error), secrets));
  return new AppError(code, `${describeCall(context)}: ${errno ?? 'request failed'}: ${text}`, {
    retryable,
    cause: error,
    details: { ...baseDetails(context), transportCode: errno },
  });
}

/** The per-attempt deadline (`requestTimeoutMs`) passed without a complete answer. */
export function attemptTimeoutError(context: CallContext, timeoutMs: number, cause: unknown): AppError {
  return new AppError('swas.timeout', `${describeCall(context)}: no complete answer within ${timeoutMs} ms`, {
    retryable: true,
    cause,
    details: { ...baseDetails(context), timeoutMs },
  });
}

/**
 * The caller's AbortSignal fired. Not retryable: aborting is the caller's decision, not a fault of
 * the call, and our retry loop must stop at once; the caller knows why and reads `cause` (the
 * signal's reason).
 */
export function abortedError(context: CallContext, reason: unknown): AppError {
  return new AppError('swas.aborted', `${describeCall(context)}: aborted`, {
    retryable: false,
    cause: reason,
    details: baseDetails(context),
  });
}

/**
 * A success status whose body is not JSON (truncated page, a proxy's HTML). Retryable: it is a
 * fault on the way from the server, not in our request, and a bounded number of attempts is
 * cheap; a page that stays malformed fails its listing, naming the page.
 */
export function malformedResponseError(
  context: CallContext,
  httpStatus: number,
  reason: string,
  requestId: string | undefined,
  secrets: readonly string[],
): AppError {
  const detail = cleanApiMessage(reason, secrets);
  return new AppError(
    'swas.malformed_response',
    `${describeCall(context)}: malformed JSON (HTTP ${httpStatus}): ${detail}`,
    {
      retryable: true,
      details: { ...baseDetails(context), httpStatus, requestId },
    },
  );
}

/**
 * A well-formed body that does not have the documented shape: `ListCustomImages cn-hangzhou page 2:
 * CustomImages[5].ImageId: required`. Not retryable: the same answer would come again.
 */
export function invalidResponseError(
  context: CallContext,
  problem: string,
  requestId: string | undefined,
  secrets: readonly string[],
): AppError {
  return new AppError(
    'swas.invalid_response',
    `${describeCall(context)}: ${displayText(scrubSecrets(problem, secrets))}`,
    {
      retryable: false,
      details: { ...baseDetails(context), requestId },
    },
  );
}

/** A call the client refuses to send (bad arguments from our own code). */
export function badArgumentError(context: CallContext, problem: string): AppError {
  return new AppError('swas.bad_request', `${describeCall(context)}: ${problem}`, {
    retryable: false,
    details: baseDetails(context),
  });
}
