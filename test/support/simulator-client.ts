import { randomBytes } from 'node:crypto';
import { Agent, originAndPath, request } from '../../src/http/undici.ts';
import { type Clock, systemClock } from '../../src/shared/clock.ts';
import {
  type Credentials,
  canonicalQueryString,
  formatAcsDate,
  signAcs3,
  signRpc,
} from '../../src/swas/signer.ts';
import { API_VERSION } from '../../src/swas/wire.ts';

/**
 * Signed calls to a simulator over real HTTP (one undici Agent per client), in each way a client
 * may send them, with a hook to tamper with the signed request.
 */

/**
 * - `v3`: ACS3-HMAC-SHA256, POST, parameters in the query, empty body (the official SDK);
 * - `v2-get`: HMAC-SHA1, everything in the query string;
 * - `v2-post-query`: HMAC-SHA1, POST with everything in the query string (the TS SDK's V2 mode);
 * - `v2-post-form`: HMAC-SHA1, POST with everything in a form body (`+` for spaces, as
 *   `URLSearchParams` writes it; `@alicloud/pop-core` style).
 */
export type TestScheme = 'v3' | 'v2-get' | 'v2-post-query' | 'v2-post-form';

export interface OutgoingTestRequest {
  method: string;
  /** Path and query string. */
  path: string;
  headers: Record<string, string>;
  body: string;
}

export interface TestCallOptions {
  action: string;
  params?: Record<string, string>;
  scheme?: TestScheme;
  credentials?: Credentials;
  /** Signing time (epoch ms); default the client's clock. */
  at?: number;
  nonce?: string;
  version?: string;
  /** Changes the request after signing. */
  tamper?: (request: OutgoingTestRequest) => void;
}

export interface TestResponse {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  text: string;
  /** The body parsed as JSON (throws on malformed JSON). */
  json(): Record<string, unknown>;
}

export interface TestClient {
  call(options: TestCallOptions): Promise<TestResponse>;
  /** An unsigned admin API call; `body` is sent as JSON. */
  admin(method: string, path: string, body?: unknown): Promise<TestResponse>;
  /** Any request as is. */
  send(request: OutgoingTestRequest): Promise<TestResponse>;
  close(): Promise<void>;
}

export const TEST_CREDENTIALS: Credentials = { accessKeyId: 'testid', accessKeySecret: 'testsecret' };

export function createTestClient(options: {
  baseUrl: string;
  credentials?: Credentials;
  clock?: Clock;
}): TestClient {
  const agent = new Agent();
  const clock = options.clock ?? systemClock;
  const host = new URL(options.baseUrl).host;

  const send = async (outgoing: OutgoingTestRequest): Promise<TestResponse> => {
    const response = await request(agent, {
      ...originAndPath(`${options.baseUrl}${outgoing.path}`),
      method: outgoing.method as 'GET',
      headers: outgoing.headers,
      ...(outgoing.body === '' ? {} : { body: outgoing.body }),
    });
    const text = await response.body.text();
    return {
      status: response.statusCode,
      headers: response.headers,
      text,
      json: () => JSON.parse(text) as Record<string, unknown>,
    };
  };

  const build = (call: TestCallOptions): OutgoingTestRequest => {
    const credentials = call.credentials ?? options.credentials ?? TEST_CREDENTIALS;
    const date = formatAcsDate(call.at ?? clock.now());
    const nonce = call.nonce ?? randomBytes(16).toString('hex');
    const version = call.version ?? API_VERSION;
    const business = call.params ?? {};
    const scheme = call.scheme ?? 'v3';
    if (scheme === 'v3') {
      const signed = signAcs3(
        { method: 'POST', host, query: business, action: call.action, version, date, nonce },
        credentials,
      );
      const { host: _signedHost, ...headers } = signed.headers;
      const query = canonicalQueryString(business);
      return { method: 'POST', path: query === '' ? '/' : `/?${query}`, headers, body: '' };
    }
    const params: Record<string, string> = {
      ...business,
      Action: call.action,
      Version: version,
      Format: 'JSON',
      AccessKeyId: credentials.accessKeyId,
      SignatureMethod: 'HMAC-SHA1',
      SignatureVersion: '1.0',
      SignatureNonce: nonce,
      Timestamp: date,
      ...(credentials.securityToken === undefined ? {} : { SecurityToken: credentials.securityToken }),
    };
    const method = scheme === 'v2-get' ? 'GET' : 'POST';
    const signature = signRpc({ method, params }, credentials.accessKeySecret);
    const all = { ...params, Signature: signature };
    if (scheme === 'v2-post-form') {
      return {
        method,
        path: '/',
        headers: { 'content-type': 'application/x-www-form-urlencoded' },
        body: new URLSearchParams(all).toString(),
      };
    }
    return { method, path: `/?${canonicalQueryString(all)}`, headers: {}, body: '' };
  };

  return {
    call: (call) => {
      const outgoing = build(call);
      call.tamper?.(outgoing);
      return send(outgoing);
    },
    admin: (method, path, body) =>
      send({
        method,
        path,
        headers: body === undefined ? {} : { 'content-type': 'application/json' },
        body: body === undefined ? '' : JSON.stringify(body),
      }),
    send,
    close: () => agent.close(),
  };
}
