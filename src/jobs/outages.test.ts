import { Writable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { createLogger } from '../observability/logger.ts';
import { createManualClock } from '../shared/clock.ts';
import { createOutageLog, isRedisConnectionError } from './outages.ts';

describe('outage log', () => {
  it('logs one error line when an outage starts and one line when it ends, however many failures between', () => {
    const lines: Record<string, unknown>[] = [];
    const destination = new Writable({
      write(chunk, _encoding, done) {
        lines.push(JSON.parse(String(chunk)));
        done();
      },
    });
    const clock = createManualClock();
    const outages = createOutageLog(createLogger({ level: 'info', destination, pretty: false }), clock, {
      redis: '127.0.0.1:6379',
      postgres: 'db:5432/swas',
    });
    for (let i = 0; i < 50; i += 1)
      outages.failed('redis', Object.assign(new Error('connect ECONNREFUSED'), { code: 'ECONNREFUSED' }));
    expect(outages.isDown('redis')).toBe(true);
    expect(outages.isDown('postgres')).toBe(false);
    clock.advance(12_300);
    outages.recovered('redis');
    outages.recovered('redis');
    expect(lines.map((line) => [line.level, line.msg])).toEqual([
      ['error', 'Redis at 127.0.0.1:6379 is unreachable (connect ECONNREFUSED); retrying until it answers'],
      ['info', 'Redis at 127.0.0.1:6379 answers again (after 12.3s)'],
    ]);
  });

  it('tells connection failures from other Redis errors', () => {
    expect(isRedisConnectionError(Object.assign(new Error('x'), { code: 'ECONNREFUSED' }))).toBe(true);
    expect(isRedisConnectionError(new Error('Connection is closed.'))).toBe(true);
    expect(isRedisConnectionError(new Error('Missing lock for job 7. moveToFinished'))).toBe(false);
  });
});
