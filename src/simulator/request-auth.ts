import { createHash, createHmac } from 'node:crypto';
import type { Clock } from '../shared/clock.ts';
import {
  ACS3_ALGORITHM,
  acs3CanonicalRequest,
  parseAcs3Authorization,
  rpcStringToSign,
  signaturesEqual,
  signRpc,
} from '../swas/signer.ts';
import { type ApiFailure, apiFailure } from './api-errors.ts';
import { headerValue } from './request-params.ts';

export interface SimulatorAccount {
  accessKeyId: string;
  accessKeySecret: string;
  /** When set, requests must carry exactly this STS token (and the key id is usually `STS.…`). */
  securityToken?: string;
}

/** A parsed API request, as the verifier needs it. */
export interface ApiRequest {
  method: string;
  headers: Readonly<Record<string, string | string[] | undefined>>;
  /** Decoded query parameters (V3 signs only these). */
  query: Readonly<Record<string, string>>;
  /** Query and form-body parameters together (V2 signs all of them). */
  params: Readonly<Record<string, string>>;
  body: Uint8Array;
}

export type SignatureScheme = 'v3' | 'v2';

/** V3 when an `Authorization` header or `x-acs-*` headers are sent; V2 (signature in the params) otherwise. */
export function detectScheme(request: Pick<ApiRequest, 'headers' | 'params'>): SignatureScheme {
  if (headerValue(request.headers, 'authorization') !== undefined) return 'v3';
  if (Object.hasOwn(request.params, 'Signature') || Object.hasOwn(request.params, 'AccessKeyId')) return 'v2';
  return Object.keys(request.headers).some((name) => name.startsWith('x-acs-')) ? 'v3' : 'v2';
}

export type AuthOutcome =
  | { ok: true; accessKeyId: string }
  | { ok: false; failure: ApiFailure; accessKeyId: string | null };

export interface RequestAuthenticator {
  authenticate(request: ApiRequest, scheme: SignatureScheme): AuthOutcome;
}

export interface RequestAuthenticatorDeps {
  accounts: readonly SimulatorAccount[];
  clock: Clock;
  /** Largest accepted difference between the request's timestamp and the clock, in ms. */
  maxSkewMs: number;
}

/** Headers a V3 request must sign (those the gateway requires). */
const REQUIRED_V3_SIGNED_HEADERS = [
  'host',
  'x-acs-action',
  'x-acs-version',
  'x-acs-date',
  'x-acs-signature-nonce',
  'x-acs-content-sha256',
] as const;

const REQUIRED_V2_PARAMS = [
  'AccessKeyId',
  'Signature',
  'SignatureMethod',
  'SignatureVersion',
  'SignatureNonce',
  'Timestamp',
] as const;

const ACS_TIME = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{1,3})?Z$/;

const sha256Hex = (data: string | Uint8Array) => createHash('sha256').update(data).digest('hex');

/**
 * Verifies both signature schemes the way the gateway does: key known,
 * timestamp within `maxSkewMs`, signature matches, nonce unused within the skew window, STS token
 * matches. A nonce is remembered only once its request's signature checked out, so forged
 * requests cannot burn nonces.
 */
export function createRequestAuthenticator(deps: RequestAuthenticatorDeps): RequestAuthenticator {
  const accounts = new Map(deps.accounts.map((account) => [account.accessKeyId, account]));
  // Insertion order is arrival order, so expired nonces are always at the front.
  const nonces = new Map<string, number>();

  const fail = (failure: ApiFailure, accessKeyId: string | null = null): AuthOutcome => ({
    ok: false,
    failure,
    accessKeyId,
  });

  const checkTime = (value: string, name: string): ApiFailure | undefined => {
    const at = Date.parse(value);
    if (!ACS_TIME.test(value) || Number.isNaN(at)) return apiFailure('IllegalTimestamp', { name });
    if (Math.abs(deps.clock.now() - at) > deps.maxSkewMs) return apiFailure('InvalidTimeStamp.Expired');
    return undefined;
  };

  const useNonce = (accessKeyId: string, nonce: string): ApiFailure | undefined => {
    const now = deps.clock.now();
    for (const [key, seenAt] of nonces) {
      if (now - seenAt < deps.maxSkewMs) break;
      nonces.delete(key);
    }
    const key = `${accessKeyId}\n${nonce}`;
    if (nonces.has(key)) return apiFailure('SignatureNonceUsed');
    nonces.set(key, now);
    return undefined;
  };

  const tokenMismatch = (account: SimulatorAccount, token: string | undefined) =>
    account.securityToken === undefined ? token !== undefined : token !== account.securityToken;

  const authenticateV3 = (request: ApiRequest): AuthOutcome => {
    const header = (name: string) => headerValue(request.headers, name);
    const parsed = parseAcs3Authorization(header('authorization') ?? '');
    if (parsed === undefined) {
      return fail(
        apiFailure('IncompleteSignature', {
          suffix: ` Expected: ${ACS3_ALGORITHM} Credential=…,SignedHeaders=…,Signature=…`,
        }),
      );
    }
    const signedHeaders = parsed.signedHeaders.map((name) => name.toLowerCase());
    const problem =
      REQUIRED_V3_SIGNED_HEADERS.find((name) => !signedHeaders.includes(name)) ??
      Object.keys(request.headers).find((name) => name.startsWith('x-acs-') && !signedHeaders.includes(name));
    if (problem !== undefined) {
      return fail(
        apiFailure('IncompleteSignature', { suffix: ` Header ${problem} must be signed.` }),
        parsed.accessKeyId,
      );
    }
    const unsent = signedHeaders.find((name) => header(name) === undefined);
    if (unsent !== undefined) {
      return fail(
        apiFailure('IncompleteSignature', { suffix: ` Signed header ${unsent} is missing.` }),
        parsed.accessKeyId,
      );
    }
    const account = accounts.get(parsed.accessKeyId);
    if (account === undefined) return fail(apiFailure('InvalidAccessKeyId.NotFound'), parsed.accessKeyId);
    const timeProblem = checkTime(header('x-acs-date') ?? '', 'x-acs-date');
    if (timeProblem !== undefined) return fail(timeProblem, account.accessKeyId);

    // The server hashes the body it received: a body that differs from the signed hash fails here.
    const bodyHash = sha256Hex(request.body);
    const signedValues = Object.fromEntries(signedHeaders.map((name) => [name, header(name) ?? '']));
    const { canonicalRequest } = acs3CanonicalRequest(request.method, request.query, signedValues, bodyHash);
    const stringToSign = `${ACS3_ALGORITHM}\n${sha256Hex(canonicalRequest)}`;
    const expected = createHmac('sha256', account.accessKeySecret).update(stringToSign).digest('hex');
    if (!signaturesEqual(expected, parsed.signature) || header('x-acs-content-sha256') !== bodyHash) {
      return fail(
        apiFailure('SignatureDoesNotMatch', { suffix: ` server string to sign is:${stringToSign}` }),
        account.accessKeyId,
      );
    }
    const nonceProblem = useNonce(account.accessKeyId, header('x-acs-signature-nonce') ?? '');
    if (nonceProblem !== undefined) return fail(nonceProblem, account.accessKeyId);
    if (tokenMismatch(account, header('x-acs-security-token'))) {
      return fail(apiFailure('InvalidSecurityToken.MismatchWithAccessKey'), account.accessKeyId);
    }
    return { ok: true, accessKeyId: account.accessKeyId };
  };

  const authenticateV2 = (request: ApiRequest): AuthOutcome => {
    const params = request.params;
    const claimedKey = params.AccessKeyId ?? null;
    const missing = REQUIRED_V2_PARAMS.find((name) => !params[name]);
    if (missing !== undefined) return fail(apiFailure('MissingParameter', { name: missing }), claimedKey);
    if (params.SignatureMethod !== 'HMAC-SHA1' || params.SignatureVersion !== '1.0') {
      return fail(
        apiFailure('IncompleteSignature', {
          suffix: ' Expected SignatureMethod=HMAC-SHA1 and SignatureVersion=1.0.',
        }),
        claimedKey,
      );
    }
    const account = accounts.get(params.AccessKeyId ?? '');
    if (account === undefined) return fail(apiFailure('InvalidAccessKeyId.NotFound'), claimedKey);
    const timeProblem = checkTime(params.Timestamp ?? '', 'Timestamp');
    if (timeProblem !== undefined) return fail(timeProblem, account.accessKeyId);

    const { Signature: received = '', ...signed } = params;
    const method = request.method === 'GET' ? 'GET' : 'POST';
    const expected = signRpc({ method, params: signed }, account.accessKeySecret);
    if (!signaturesEqual(expected, received)) {
      const stringToSign = rpcStringToSign({ method, params: signed });
      return fail(
        apiFailure('SignatureDoesNotMatch', { suffix: ` server string to sign is:${stringToSign}` }),
        account.accessKeyId,
      );
    }
    const nonceProblem = useNonce(account.accessKeyId, params.SignatureNonce ?? '');
    if (nonceProblem !== undefined) return fail(nonceProblem, account.accessKeyId);
    if (tokenMismatch(account, params.SecurityToken)) {
      return fail(apiFailure('InvalidSecurityToken.MismatchWithAccessKey'), account.accessKeyId);
    }
    return { ok: true, accessKeyId: account.accessKeyId };
  };

  return {
    authenticate: (request, scheme) => (scheme === 'v3' ? authenticateV3(request) : authenticateV2(request)),
  };
}
