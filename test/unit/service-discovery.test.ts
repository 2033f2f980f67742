import { describe, expect, it } from 'vitest';
import {
  discoverService,
  noServiceMessage,
  POSTGRES,
  REDIS,
  unreachableMessage,
} from '../support/service-discovery.ts';

/** A probe where only `answering` URLs answer; it records every URL it was asked about. */
function fakeProbe(...answering: string[]) {
  const asked: string[] = [];
  const probe = async (url: string) => {
    asked.push(url);
    if (!answering.includes(url)) throw Object.assign(new AggregateError([]), { code: 'ECONNREFUSED' });
  };
  return { probe, asked };
}

const DEFAULT_PG = 'postgres://postgres@127.0.0.1:5432/postgres';
const DEFAULT_REDIS = 'redis://127.0.0.1:6379';

describe('test service discovery', () => {
  it("takes the TEST_ variable first, then the application's variable, without looking further", async () => {
    const both = fakeProbe(
      'postgres://t@db-test:5432/postgres',
      'postgres://a@db-app:5432/postgres',
      DEFAULT_PG,
    );
    const env = {
      TEST_DATABASE_URL: 'postgres://t@db-test:5432/postgres',
      DATABASE_URL: 'postgres://a@db-app:5432/postgres',
    };
    expect(await discoverService(POSTGRES, env, both.probe)).toEqual({
      kind: 'found',
      url: 'postgres://t@db-test:5432/postgres',
      source: 'TEST_DATABASE_URL',
    });
    expect(both.asked).toEqual(['postgres://t@db-test:5432/postgres']);

    const app = fakeProbe('redis://cache:6380');
    expect(
      await discoverService(REDIS, { REDIS_URL: 'redis://cache:6380', TEST_REDIS_URL: '' }, app.probe),
    ).toEqual({
      kind: 'found',
      url: 'redis://cache:6380',
      source: 'REDIS_URL',
    });
    expect(app.asked).toEqual(['redis://cache:6380']);
  });

  it("uses the server of the application's DATABASE_URL, whose database need not exist yet", async () => {
    const { probe, asked } = fakeProbe(DEFAULT_PG);
    const env = { DATABASE_URL: 'postgres://postgres@127.0.0.1:5432/swas_inventory' };
    expect(await discoverService(POSTGRES, env, probe)).toEqual({
      kind: 'found',
      url: DEFAULT_PG,
      source: 'DATABASE_URL',
    });
    expect(asked).toEqual([DEFAULT_PG]);
  });

  it("uses the application's defaults on 127.0.0.1 when nothing is set and something answers there", async () => {
    const { probe, asked } = fakeProbe(DEFAULT_PG, DEFAULT_REDIS);
    expect(await discoverService(POSTGRES, {}, probe)).toEqual({
      kind: 'found',
      url: DEFAULT_PG,
      source: 'default',
    });
    expect(await discoverService(REDIS, {}, probe)).toEqual({
      kind: 'found',
      url: DEFAULT_REDIS,
      source: 'default',
    });
    expect(asked).toEqual([DEFAULT_PG, DEFAULT_REDIS]);
  });

  it('leaves testcontainers as the last way when nothing is set and nothing answers at the default', async () => {
    const { probe } = fakeProbe();
    expect(await discoverService(REDIS, { TEST_REDIS_URL: '', REDIS_URL: '' }, probe)).toEqual({
      kind: 'absent',
      defaultFailure: 'ECONNREFUSED',
    });
  });

  it('reports a variable naming a service that does not answer instead of looking elsewhere, without its password', async () => {
    const { probe, asked } = fakeProbe(DEFAULT_PG);
    const env = { TEST_DATABASE_URL: 'postgres://app:hunter2@10.0.0.9:6543/inventory' };
    const found = await discoverService(POSTGRES, env, probe);
    expect(found).toEqual({
      kind: 'unreachable',
      variable: 'TEST_DATABASE_URL',
      target: 'postgres://10.0.0.9:6543',
      reason: 'ECONNREFUSED',
    });
    expect(asked).toEqual(['postgres://app:hunter2@10.0.0.9:6543/postgres']);
    if (found.kind !== 'unreachable') throw new Error('unreachable expected');
    const message = unreachableMessage(POSTGRES, found);
    expect(message).toContain(
      'TEST_DATABASE_URL names postgres://10.0.0.9:6543, which does not answer (ECONNREFUSED)',
    );
    expect(message).not.toContain('hunter2');

    // pg takes a Unix socket directory as the host parameter: that is what the message names.
    const socket = await discoverService(
      POSTGRES,
      { DATABASE_URL: 'postgres:///inventory?host=/run/pg' },
      probe,
    );
    expect(socket).toMatchObject({ kind: 'unreachable', target: 'postgres:///run/pg:5432' });

    const malformed = await discoverService(REDIS, { REDIS_URL: 'redis//:hunter2@cache' }, probe);
    expect(malformed).toMatchObject({ kind: 'unreachable', variable: 'REDIS_URL', reason: 'not a URL' });
    expect(JSON.stringify(malformed)).not.toContain('hunter2');
  });

  it('names all four ways, in order, with why the default and Docker failed, when none works', () => {
    const message = noServiceMessage(
      [
        { spec: POSTGRES, defaultFailure: 'connect ECONNREFUSED 127.0.0.1:5432' },
        { spec: REDIS, defaultFailure: 'ECONNREFUSED' },
      ],
      'Could not find a working container runtime strategy',
    );
    expect(message.split('\n')).toEqual([
      'No PostgreSQL and Redis for the tests. They look for each, in this order:',
      '  1. TEST_DATABASE_URL and TEST_REDIS_URL: not set',
      "  2. DATABASE_URL and REDIS_URL (the application's variables): not set",
      "  3. the application's defaults: nothing answers at postgres://127.0.0.1:5432 (connect ECONNREFUSED 127.0.0.1:5432), redis://127.0.0.1:6379 (ECONNREFUSED)",
      '  4. Docker, for throwaway containers through testcontainers: Could not find a working container runtime strategy',
      'Start PostgreSQL and Redis at those addresses, set the variables, or make Docker available.',
    ]);
    expect(noServiceMessage([{ spec: REDIS, defaultFailure: 'ETIMEDOUT' }], 'no Docker')).toContain(
      '1. TEST_REDIS_URL: not set',
    );
  });
});
