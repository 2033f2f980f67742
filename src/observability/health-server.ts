import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Logger } from 'pino';
import { errorMessage } from '../shared/app-error.ts';

/**
 * The operations endpoint:
 * - `GET /healthz` — 200 while the process serves HTTP at all (liveness);
 * - `GET /readyz` — 200 when every readiness check passes, else 503 naming the failed ones;
 * - `GET /metrics` — the Prometheus text exposition.
 * Nothing else is served; no request body is read.
 */

export type CheckResult = { ok: true } | { ok: false; error: string };

/** One readiness check (Redis answers, Postgres answers, migrations current, …). Throwing counts as failing. */
export type ReadinessCheck = (signal: AbortSignal) => Promise<CheckResult>;

export interface HealthServerDeps {
  /** By name, as reported in `/readyz`. */
  checks: Readonly<Record<string, ReadinessCheck>>;
  metrics: { exposition(): Promise<{ contentType: string; body: string }> };
  logger: Pick<Logger, 'info' | 'warn'>;
}

export interface HealthServerOptions {
  /** `HTTP_PORT`; 0 picks a free port. */
  port: number;
  /** Default `0.0.0.0` (scraped from outside the container); tests pass `127.0.0.1`. */
  host?: string;
  /** A check that has not answered after this long fails, ms. Default 2 000. */
  checkTimeoutMs?: number;
  /** On close, requests still running after this long are cut, ms. Default 5 000. */
  closeTimeoutMs?: number;
}

export interface HealthServer {
  /** Starts listening; resolves with the bound port (the free one picked when `port` is 0). */
  listen(): Promise<{ port: number }>;
  /** Stops accepting, lets requests in progress finish (bounded), closes idle keep-alive sockets. Idempotent. */
  close(): Promise<void>;
}

const JSON_TYPE = 'application/json; charset=utf-8';

function send(response: ServerResponse, status: number, contentType: string, body: string): void {
  response.writeHead(status, {
    'content-type': contentType,
    'content-length': Buffer.byteLength(body),
    'cache-control': 'no-store',
  });
  response.end(response.req.method === 'HEAD' ? undefined : body);
}

/** Runs one check under a deadline; never rejects. */
async function runCheck(check: ReadinessCheck, timeoutMs: number): Promise<CheckResult> {
  const controller = new AbortController();
  let timer: NodeJS.Timeout | undefined;
  const deadline = new Promise<CheckResult>((resolve) => {
    timer = setTimeout(() => {
      controller.abort();
      resolve({ ok: false, error: `no answer within ${timeoutMs} ms` });
    }, timeoutMs);
  });
  try {
    return await Promise.race([
      check(controller.signal).catch(
        (error: unknown): CheckResult => ({ ok: false, error: errorMessage(error) }),
      ),
      deadline,
    ]);
  } finally {
    clearTimeout(timer);
  }
}

export function createHealthServer(deps: HealthServerDeps, options: HealthServerOptions): HealthServer {
  const checkTimeoutMs = options.checkTimeoutMs ?? 2_000;
  const closeTimeoutMs = options.closeTimeoutMs ?? 5_000;

  async function readiness(response: ServerResponse): Promise<void> {
    const names = Object.keys(deps.checks);
    const results = await Promise.all(
      names.map((name) => runCheck(deps.checks[name] as ReadinessCheck, checkTimeoutMs)),
    );
    const checks: Record<string, { ok: boolean; error?: string }> = {};
    const failed: string[] = [];
    results.forEach((result, index) => {
      const name = names[index] as string;
      checks[name] = result.ok ? { ok: true } : { ok: false, error: result.error };
      if (!result.ok) failed.push(name);
    });
    const ready = failed.length === 0;
    send(
      response,
      ready ? 200 : 503,
      JSON_TYPE,
      JSON.stringify({ status: ready ? 'ready' : 'not ready', failed, checks }),
    );
  }

  async function handle(request: IncomingMessage, response: ServerResponse): Promise<void> {
    const path = (request.url ?? '/').split('?')[0];
    if (request.method !== 'GET' && request.method !== 'HEAD') {
      response.setHeader('allow', 'GET, HEAD');
      send(response, 405, JSON_TYPE, JSON.stringify({ error: 'method not allowed' }));
      return;
    }
    switch (path) {
      case '/healthz':
        send(response, 200, JSON_TYPE, JSON.stringify({ status: 'ok' }));
        return;
      case '/readyz':
        await readiness(response);
        return;
      case '/metrics': {
        const { contentType, body } = await deps.metrics.exposition();
        send(response, 200, contentType, body);
        return;
      }
      default:
        send(response, 404, JSON_TYPE, JSON.stringify({ error: 'not found' }));
    }
  }

  const server = createServer((request, response) => {
    handle(request, response).catch((error: unknown) => {
      deps.logger.warn({ err: error, path: request.url }, 'operations endpoint request failed');
      if (!response.headersSent) send(response, 500, JSON_TYPE, JSON.stringify({ error: 'internal error' }));
      else response.destroy();
    });
  });
  // Scrapers keep connections alive; a short idle timeout lets close() finish promptly.
  server.keepAliveTimeout = 5_000;

  let closing: Promise<void> | undefined;
  return {
    listen: () =>
      new Promise((resolve, reject) => {
        server.once('error', reject);
        server.listen(options.port, options.host ?? '0.0.0.0', () => {
          server.off('error', reject);
          const { port } = server.address() as AddressInfo;
          deps.logger.info({ port }, 'operations endpoint listening (/healthz, /readyz, /metrics)');
          resolve({ port });
        });
      }),
    close: () => {
      closing ??= new Promise<void>((resolve) => {
        if (!server.listening) {
          resolve();
          return;
        }
        const force = setTimeout(() => server.closeAllConnections(), closeTimeoutMs);
        server.close(() => {
          clearTimeout(force);
          resolve();
        });
        server.closeIdleConnections();
      });
      return closing;
    },
  };
}
