import { randomUUID } from 'node:crypto';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { Socket } from 'node:net';
import { type Clock, systemClock } from '../shared/clock.ts';
import { createSimulatorAdmin, type SimulatorAdmin } from './admin.ts';
import { ADMIN_PREFIX, createAdminHttpHandler } from './admin-http.ts';
import { apiFailure, errorBody } from './api-errors.ts';
import { createApiHandler } from './api-handler.ts';
import { createCallLog } from './call-log.ts';
import { createFaultRegistry } from './faults.ts';
import { readBody, sendJson } from './http-io.ts';
import { createImageStore, type RegionSeed } from './image-store.ts';
import { createQuota } from './quota.ts';
import { createRequestAuthenticator, type SimulatorAccount } from './request-auth.ts';

/**
 * The SWAS API simulator: ListRegions and ListCustomImages as the public reference
 * describes them (signature checks of both schemes, paging, string counts, error
 * bodies, the per-account quota) over seeded data, an admin API to change images and inject
 * faults, and a log of the calls it answered. It backs the demo, the tests and the benchmarks.
 *
 * Every region is served from one host; the region comes from the `RegionId` parameter, and a
 * region without images (or unknown) lists nothing rather than failing (listing.ts). Every account
 * sees the same images. Answers are always JSON (`Format=XML` is not honoured). Faults apply only
 * to calls that passed the signature and quota checks (faults.ts).
 */

export type { SimulatorAdmin } from './admin.ts';
export type { CallRecord } from './call-log.ts';
export type { ActiveFault, Fault, FaultEffect, FaultKind, FaultScope, ThrottlingCode } from './faults.ts';
export { FAULT_KINDS } from './faults.ts';
export type { RegionSummary } from './image-store.ts';
export type { SimulatorAccount } from './request-auth.ts';
export type { ImagePatch, SimulatorImage, SimulatorImageTag } from './simulator-image.ts';

/** A region the simulator starts with: `regionId`, optional `localName`, `images` (seeded count). */
export type SimulatorRegionSeed = RegionSeed;

export interface SimulatorOptions {
  /** Default `127.0.0.1`. */
  host?: string;
  /** Default 0: a free port. */
  port?: number;
  /** Seed of the generated data; the same seed gives the same images. Default 1. */
  seed?: number;
  /** Default `[{ accessKeyId: 'testid', accessKeySecret: 'testsecret' }]`. */
  accounts?: SimulatorAccount[];
  /** Default {@link DEFAULT_SIMULATOR_REGIONS}. */
  regions?: SimulatorRegionSeed[];
  /**
   * Flow control per access key and action: never more than `limit` calls in any `intervalMs`;
   * default 10 per 60,000 ms (the documented SWAS quota); null for none.
   */
  quota?: { limit: number; intervalMs: number } | null;
  /** Time of quota windows, timestamp checks, nonce memory and new images. Default the system clock. */
  clock?: Clock;
  /** Largest accepted request timestamp skew in ms. Default 15 minutes. */
  maxSkewMs?: number;
}

export interface Simulator {
  /** Base URL, e.g. `http://127.0.0.1:54321`; use it as the endpoint of every region. */
  url: string;
  /** Stops the server and destroys every open socket, including kept-alive and hung requests. */
  close(): Promise<void>;
  admin: SimulatorAdmin;
}

export const DEFAULT_SIMULATOR_ACCOUNTS: readonly SimulatorAccount[] = [
  { accessKeyId: 'testid', accessKeySecret: 'testsecret' },
];

export const DEFAULT_SIMULATOR_REGIONS: readonly SimulatorRegionSeed[] = [
  { regionId: 'cn-hangzhou', images: 120 },
  { regionId: 'cn-shanghai', images: 40 },
  { regionId: 'ap-southeast-1', images: 12 },
  { regionId: 'cn-beijing', images: 0 },
];

export const DEFAULT_SIMULATOR_QUOTA = { limit: 10, intervalMs: 60_000 } as const;
export const DEFAULT_MAX_SKEW_MS = 15 * 60_000;

export async function startSimulator(options: SimulatorOptions = {}): Promise<Simulator> {
  const clock = options.clock ?? systemClock;
  const store = createImageStore({
    seed: options.seed ?? 1,
    regions: options.regions ?? DEFAULT_SIMULATOR_REGIONS,
    clock,
  });
  const quotaOptions = options.quota === undefined ? DEFAULT_SIMULATOR_QUOTA : options.quota;
  const quota = quotaOptions === null ? null : createQuota({ ...quotaOptions, clock });
  const faults = createFaultRegistry();
  const calls = createCallLog();
  const admin = createSimulatorAdmin({ store, faults, calls, quota });
  const closing = new AbortController();
  const handleApi = createApiHandler({
    store,
    authenticator: createRequestAuthenticator({
      accounts: options.accounts ?? DEFAULT_SIMULATOR_ACCOUNTS,
      clock,
      maxSkewMs: options.maxSkewMs ?? DEFAULT_MAX_SKEW_MS,
    }),
    quota,
    faults,
    calls,
    clock,
    closed: closing.signal,
  });
  const handleAdmin = createAdminHttpHandler(admin);

  const handle = async (request: IncomingMessage, response: ServerResponse) => {
    const isAdmin = request.url?.startsWith(ADMIN_PREFIX) ?? false;
    try {
      const body = await readBody(request);
      if (body === undefined) {
        sendJson(response, 413, {
          error: { code: 'simulator.too_large', message: 'request body too large' },
        });
        request.socket.destroy();
        return;
      }
      if (isAdmin) handleAdmin(request, response, body);
      else await handleApi(request, response, body);
    } catch (error) {
      // A bug in the simulator must not look like a hang to the client under test.
      const requestId = randomUUID().toUpperCase();
      const failure = apiFailure('InternalError', { suffix: ` (simulator: ${String(error)})` });
      sendJson(response, 500, errorBody(failure, requestId, request.headers.host ?? ''));
    }
  };

  const server = createServer((request, response) => {
    void handle(request, response);
  });
  const sockets = new Set<Socket>();
  server.on('connection', (socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
  });
  // A client that resets mid-request must not crash the process hosting the simulator.
  server.on('clientError', (_error, socket) => socket.destroy());

  const host = options.host ?? '127.0.0.1';
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port ?? 0, host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  const address = server.address();
  if (address === null || typeof address === 'string') throw new Error('simulator: no TCP address');
  const urlHost = address.family === 'IPv6' ? `[${address.address}]` : address.address;

  let closed: Promise<void> | undefined;
  return {
    url: `http://${urlHost}:${address.port}`,
    admin,
    close: () => {
      closed ??= new Promise<void>((resolve, reject) => {
        closing.abort();
        server.close((error) => (error === undefined ? resolve() : reject(error)));
        for (const socket of sockets) socket.destroy();
      });
      return closed;
    },
  };
}
