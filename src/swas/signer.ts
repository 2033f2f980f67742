import { createHash, createHmac, timingSafeEqual } from 'node:crypto';

/**
 * Request signing for the Alibaba Cloud RPC gateway, both schemes:
 * - ACS3-HMAC-SHA256 ("V3"), what the official SDK sends by default and what the client uses;
 * - HMAC-SHA1 SignatureVersion 1.0 ("V2"), which the simulator also accepts.
 * Pure functions: time and nonce come in as arguments.
 */

export const ACS3_ALGORITHM = 'ACS3-HMAC-SHA256';
export const EMPTY_BODY_SHA256 = 'e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855';

export interface Credentials {
  accessKeyId: string;
  accessKeySecret: string;
  securityToken?: string | undefined;
}

/**
 * Percent-encoding of the RPC signature docs: RFC 3986 unreserved characters stay, everything else is
 * `%XY` upper-case over UTF-8 bytes; space is `%20`, `*` is `%2A`, `~` stays.
 */
export function percentEncode(value: string): string {
  return encodeURIComponent(value).replace(
    /[!'()*]/g,
    (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`,
  );
}

/** Parameters sorted by name (code-unit order, as the SDK does) and joined `name=value&…`, encoded. */
export function canonicalQueryString(params: Record<string, string>): string {
  return Object.keys(params)
    .sort()
    .map((name) => `${percentEncode(name)}=${percentEncode(params[name] ?? '')}`)
    .join('&');
}

const sha256Hex = (data: string | Uint8Array) => createHash('sha256').update(data).digest('hex');

/** `yyyy-MM-ddTHH:mm:ssZ`, the timestamp form both schemes require (no milliseconds). */
export function formatAcsDate(epochMs: number): string {
  return new Date(epochMs).toISOString().replace(/\.\d{3}Z$/, 'Z');
}

export interface Acs3Request {
  method: string;
  /** Host as the client addresses it, port included for a non-default port (it is signed). */
  host: string;
  /** Business parameters, already flattened (`Tag.1.Key`), sent in the query string. */
  query: Record<string, string>;
  action: string;
  version: string;
  /** ISO 8601 UTC, see {@link formatAcsDate}. */
  date: string;
  nonce: string;
  /** Raw request body; the SDK sends none for RPC APIs. */
  body?: string;
}

export interface Acs3Signature {
  /** Every header to send, `authorization` included. Names are lower-case. */
  headers: Record<string, string>;
  canonicalRequest: string;
  stringToSign: string;
  signature: string;
}

/** Builds the signed headers exactly as `@alicloud/openapi-core` does for a V3 RPC call. */
export function signAcs3(request: Acs3Request, credentials: Credentials): Acs3Signature {
  const bodyHash = sha256Hex(request.body ?? '');
  const signedHeaderValues: Record<string, string> = {
    host: request.host,
    'x-acs-action': request.action,
    'x-acs-version': request.version,
    'x-acs-date': request.date,
    'x-acs-signature-nonce': request.nonce,
    'x-acs-content-sha256': bodyHash,
  };
  if (credentials.securityToken !== undefined) {
    // With STS credentials the SDK also signs the key id and the token.
    signedHeaderValues['x-acs-accesskey-id'] = credentials.accessKeyId;
    signedHeaderValues['x-acs-security-token'] = credentials.securityToken;
  }
  const { canonicalRequest, signedHeaders } = acs3CanonicalRequest(
    request.method,
    request.query,
    signedHeaderValues,
    bodyHash,
  );
  const stringToSign = `${ACS3_ALGORITHM}\n${sha256Hex(canonicalRequest)}`;
  const signature = createHmac('sha256', credentials.accessKeySecret).update(stringToSign).digest('hex');
  return {
    headers: {
      ...signedHeaderValues,
      authorization: `${ACS3_ALGORITHM} Credential=${credentials.accessKeyId},SignedHeaders=${signedHeaders},Signature=${signature}`,
    },
    canonicalRequest,
    stringToSign,
    signature,
  };
}

/** The canonical request of V3 over the given signed headers (names lower-case). */
export function acs3CanonicalRequest(
  method: string,
  query: Record<string, string>,
  signedHeaderValues: Record<string, string>,
  bodyHash: string,
): { canonicalRequest: string; signedHeaders: string } {
  const names = Object.keys(signedHeaderValues)
    .map((name) => name.toLowerCase())
    .sort();
  const lowered = Object.fromEntries(
    Object.entries(signedHeaderValues).map(([name, value]) => [name.toLowerCase(), value]),
  );
  const canonicalHeaders = names.map((name) => `${name}:${(lowered[name] ?? '').trim()}\n`).join('');
  const signedHeaders = names.join(';');
  const canonicalRequest = [
    method.toUpperCase(),
    '/',
    canonicalQueryString(query),
    canonicalHeaders,
    signedHeaders,
    bodyHash,
  ].join('\n');
  return { canonicalRequest, signedHeaders };
}

export interface ParsedAcs3Authorization {
  accessKeyId: string;
  signedHeaders: string[];
  signature: string;
}

/** Parses `ACS3-HMAC-SHA256 Credential=…,SignedHeaders=…,Signature=…`; undefined when malformed. */
export function parseAcs3Authorization(header: string): ParsedAcs3Authorization | undefined {
  const prefix = `${ACS3_ALGORITHM} `;
  if (!header.startsWith(prefix)) return undefined;
  const fields = new Map<string, string>();
  for (const part of header.slice(prefix.length).split(',')) {
    const eq = part.indexOf('=');
    if (eq > 0) fields.set(part.slice(0, eq).trim(), part.slice(eq + 1).trim());
  }
  const accessKeyId = fields.get('Credential');
  const signedHeaders = fields.get('SignedHeaders');
  const signature = fields.get('Signature');
  if (!accessKeyId || !signedHeaders || !signature) return undefined;
  return { accessKeyId, signedHeaders: signedHeaders.split(';'), signature };
}

export interface RpcV2Request {
  method: 'GET' | 'POST';
  /** Every parameter (common and business) except `Signature`. */
  params: Record<string, string>;
}

/** The V2 string to sign: `METHOD&%2F&pe(canonicalized)`. */
export function rpcStringToSign(request: RpcV2Request): string {
  return `${request.method}&${percentEncode('/')}&${percentEncode(canonicalQueryString(request.params))}`;
}

/** Base64 HMAC-SHA1 with key `secret&`. */
export function signRpc(request: RpcV2Request, accessKeySecret: string): string {
  return createHmac('sha1', `${accessKeySecret}&`).update(rpcStringToSign(request)).digest('base64');
}

/** Constant-time comparison of two signatures in the same text encoding. */
export function signaturesEqual(expected: string, received: string): boolean {
  const a = Buffer.from(expected);
  const b = Buffer.from(received);
  return a.length === b.length && timingSafeEqual(a, b);
}
