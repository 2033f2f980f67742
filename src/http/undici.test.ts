import { createServer } from 'node:http';
import * as undici from 'undici';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Agent, originAndPath, request } from './undici.ts';

describe('the undici seam', () => {
  it('is the Agent that undici exports', () => {
    expect(Agent).toBe(undici.Agent);
  });

  it('splits a whole URL into the origin and the path with its query, without credentials', () => {
    expect(originAndPath('https://user:pw@hooks.example:8443/a/b?x=1&y=2#frag')).toEqual({
      origin: 'https://hooks.example:8443',
      path: '/a/b?x=1&y=2',
    });
    expect(originAndPath(new URL('http://127.0.0.1:8787'))).toEqual({
      origin: 'http://127.0.0.1:8787',
      path: '/',
    });
  });

  describe('request', () => {
    const server = createServer((req, res) => {
      let body = '';
      req.on('data', (chunk) => {
        body += chunk;
      });
      req.on('end', () => {
        res.setHeader('content-type', 'application/json');
        res.end(JSON.stringify({ method: req.method, url: req.url, header: req.headers['x-probe'], body }));
      });
    });
    let origin = '';
    const agent = new Agent();
    beforeAll(async () => {
      await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
      const address = server.address();
      if (address === null || typeof address === 'string') throw new Error('no port');
      origin = `http://127.0.0.1:${address.port}`;
    });
    afterAll(async () => {
      await agent.close();
      await new Promise((resolve) => server.close(resolve));
    });

    it('sends the method, path, headers and body through the given dispatcher', async () => {
      const response = await request(agent, {
        origin,
        path: '/?Action=Probe',
        method: 'POST',
        headers: { 'x-probe': 'yes' },
        body: 'payload',
      });
      expect(response.statusCode).toBe(200);
      expect(await response.body.json()).toEqual({
        method: 'POST',
        url: '/?Action=Probe',
        header: 'yes',
        body: 'payload',
      });
    });

    it('goes through a mock dispatcher as through an agent', async () => {
      const mock = new undici.MockAgent();
      mock.disableNetConnect();
      mock.get('http://mocked.test').intercept({ path: '/x', method: 'GET' }).reply(418, 'teapot');
      const response = await request(mock, { origin: 'http://mocked.test', path: '/x', method: 'GET' });
      expect(response.statusCode).toBe(418);
      expect(await response.body.text()).toBe('teapot');
      await mock.close();
    });
  });
});
