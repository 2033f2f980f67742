/**
 * The gateway's error answers: code, HTTP status and message. Where the
 * reference records both a documented and an observed status, the observed one is used
 * (`InvalidAccessKeyId.NotFound` 404, `SignatureDoesNotMatch` 400). `{name}` in a message is
 * replaced by the offending parameter's name.
 */
export const API_ERRORS = {
  'InvalidAction.NotFound': {
    status: 404,
    message: 'Specified api is not found, please check your url and method.',
  },
  InvalidVersion: { status: 400, message: 'Specified parameter Version is not valid.' },
  'InvalidAccessKeyId.NotFound': { status: 404, message: 'Specified access key is not found.' },
  SignatureDoesNotMatch: { status: 400, message: 'Specified signature is not matched with our calculation.' },
  IncompleteSignature: {
    status: 400,
    message: 'The request signature does not conform to Aliyun standards.',
  },
  'InvalidTimeStamp.Expired': { status: 400, message: 'Specified time stamp or date value is expired.' },
  IllegalTimestamp: {
    status: 400,
    message: 'The input parameter "{name}" that is mandatory for processing this request is not supplied.',
  },
  SignatureNonceUsed: { status: 400, message: 'Specified signature nonce was used already.' },
  'InvalidSecurityToken.MismatchWithAccessKey': {
    status: 400,
    message: 'Specified SecurityToken mismatch with the AccessKey.',
  },
  MissingParameter: {
    status: 400,
    message: 'The input parameter "{name}" that is mandatory for processing this request is not supplied.',
  },
  InvalidParameter: { status: 400, message: 'The specified value of parameter "{name}" is not valid.' },
  Throttling: { status: 400, message: 'Request was denied due to request throttling.' },
  'Throttling.User': { status: 400, message: 'Request was denied due to user flow control.' },
  'Throttling.Api': { status: 400, message: 'Request was denied due to api flow control.' },
  Forbidden: { status: 403, message: 'User not authorized to operate on the specified resource.' },
  InternalError: {
    status: 500,
    message: 'The request processing has failed due to some unknown error, exception or failure.',
  },
  ServiceUnavailable: {
    status: 503,
    message: 'The request has failed due to a temporary failure of the server.',
  },
} as const satisfies Record<string, { status: number; message: string }>;

export type KnownApiErrorCode = keyof typeof API_ERRORS;

export const isKnownApiErrorCode = (code: string): code is KnownApiErrorCode =>
  Object.hasOwn(API_ERRORS, code);

/** An error answer before it gets its request id and host. */
export interface ApiFailure {
  status: number;
  code: string;
  message: string;
  /** Extra response headers, e.g. the throttling wait hint. */
  headers?: Record<string, string>;
}

export interface ApiFailureOptions {
  /** The parameter a `{name}` message refers to. */
  name?: string;
  /** Replaces the table's message. */
  message?: string;
  /** Text appended to the message (the server string to sign). */
  suffix?: string;
  headers?: Record<string, string>;
}

export function apiFailure(code: KnownApiErrorCode, options: ApiFailureOptions = {}): ApiFailure {
  const entry = API_ERRORS[code];
  const message =
    (options.message ?? entry.message).replace('{name}', options.name ?? '') + (options.suffix ?? '');
  return {
    status: entry.status,
    code,
    message,
    ...(options.headers === undefined ? {} : { headers: options.headers }),
  };
}

/** The JSON error body of the RPC gateway, keys in the documented order. */
export function errorBody(failure: ApiFailure, requestId: string, hostId: string): Record<string, string> {
  return {
    RequestId: requestId,
    HostId: hostId,
    Code: failure.code,
    Message: failure.message,
    Recommend: `https://api.aliyun.com/troubleshoot?q=${encodeURIComponent(failure.code)}&product=SWAS-OPEN&requestId=${requestId}`,
  };
}

/**
 * The throttling wait hint the SDK reads (`getThrottlingTimeLeft`): `TimeLeft`
 * is the wait in ms; `Reset` is the epoch ms at which a call is admitted again.
 */
export function throttlingHeaders(timeLeftMs: number, nowMs: number): Record<string, string> {
  const wait = Math.max(0, Math.ceil(timeLeftMs));
  return { 'x-ratelimit-user-api': `Remain:0,TimeLeft:${wait},Reset:${nowMs + wait}` };
}
