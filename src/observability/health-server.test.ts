import { request } from 'undici';
import { afterEach, describe, expect, it } from 'vitest';
import { createManualClock } from '../shared/clock.ts';
import { createHealthServer, type HealthServer, type ReadinessCheck } from './health-server.ts';
import { silentLogger } from './logger.ts';
import { createMetrics } from './metrics.ts';

const servers: HealthServer[] = [];
afterEach(async () => {
  for (const server of servers.splice(0)) await server.close();
});

async function start(checks: Record<string, ReadinessCheck>, checkTimeoutMs = 2_000) {
  const metrics = createMetrics({ clock: createManualClock(), defaultMetrics: false });
  const server = createHealthServer(
    { checks, metrics, logger: silentLogger },
    { port: 0, host: '127.0.0.1', checkTimeoutMs },
  );
  servers.push(server);
  const { port } = await server.listen();
  const get = async (path: string, method: 'GET' | 'HEAD' | 'POST' = 'GET') => {
    const response = await request(`http://127.0.0.1:${port}${path}`, { method });
    return {
      status: response.statusCode,
      type: String(response.headers['content-type']),
      body: await response.body.text(),
    };
  };
  return { server, port, get, metrics };
}

const ok: ReadinessCheck = async () => ({ ok: true });

describe('createHealthServer', () => {
  it('binds a free port for port 0 and answers /healthz', async () => {
    const { port, get } = await start({});
    expect(port).toBeGreaterThan(0);
    expect(await get('/healthz')).toMatchObject({ status: 200, body: '{"status":"ok"}' });
  });

  it('is ready when every check passes', async () => {
    const { get } = await start({ redis: ok, postgres: ok, migrations: ok });
    const answer = await get('/readyz');
    expect(answer.status).toBe(200);
    expect(JSON.parse(answer.body)).toEqual({
      status: 'ready',
      failed: [],
      checks: { redis: { ok: true }, postgres: { ok: true }, migrations: { ok: true } },
    });
  });

  it('answers 503 naming each failed check: an error result, a throw, a check that never answers', async () => {
    const { get } = await start(
      {
        redis: async () => ({ ok: false, error: 'connection refused' }),
        postgres: ok,
        migrations: async () => {
          throw new Error('2 of 5 migrations applied');
        },
        slow: (signal) =>
          new Promise((resolve) => signal.addEventListener('abort', () => resolve({ ok: true }))),
      },
      100,
    );
    const answer = await get('/readyz');
    expect(answer.status).toBe(503);
    expect(answer.type).toContain('application/json');
    expect(JSON.parse(answer.body)).toEqual({
      status: 'not ready',
      failed: ['redis', 'migrations', 'slow'],
      checks: {
        redis: { ok: false, error: 'connection refused' },
        postgres: { ok: true },
        migrations: { ok: false, error: '2 of 5 migrations applied' },
        slow: { ok: false, error: 'no answer within 100 ms' },
      },
    });
  });

  it('serves the registry in the Prometheus text format', async () => {
    const { get, metrics } = await start({});
    metrics.swas.apiCall({ account: 'prod', action: 'ListCustomImages', outcome: 'ok' });
    const answer = await get('/metrics');
    expect(answer.status).toBe(200);
    expect(answer.type).toContain('text/plain');
    expect(answer.body).toContain(
      'swas_inventory_api_calls_total{account="prod",action="ListCustomImages",outcome="ok"} 1',
    );
  });

  it('answers 404 elsewhere, 405 to other methods, and HEAD without a body', async () => {
    const { get } = await start({});
    expect((await get('/')).status).toBe(404);
    expect((await get('/healthz', 'POST')).status).toBe(405);
    expect(await get('/healthz', 'HEAD')).toMatchObject({ status: 200, body: '' });
  });

  it('closes with a kept-alive connection open, and close is idempotent', async () => {
    const { server, get } = await start({});
    await get('/healthz');
    await Promise.all([server.close(), server.close()]);
    await expect(get('/healthz')).rejects.toThrow();
  });
});
