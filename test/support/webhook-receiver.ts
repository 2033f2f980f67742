import { once } from 'node:events';
import { createServer, type IncomingHttpHeaders, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Webhook } from 'standardwebhooks';

/** One request the receiver got. */
export interface ReceivedRequest {
  path: string;
  headers: IncomingHttpHeaders;
  body: string;
  /** Epoch ms of arrival. */
  at: number;
  /** The status answered (null while hanging). */
  status: number | null;
}

/**
 * What to answer: a status (and body; with `stall`, the body is sent but never ended), or `hang`
 * (never answer; the sender's timeout ends it).
 */
export type Answer =
  | { status: number; body?: string; headers?: Record<string, string>; stall?: boolean }
  | 'hang';

export interface WebhookReceiver {
  /** `http://127.0.0.1:port` (append any path). */
  url: string;
  requests: ReceivedRequest[];
  /** Decides each answer; `count` is the number of earlier requests with the same webhook-id. */
  answer: (request: ReceivedRequest, count: number) => Answer;
  /** Requests answered 2xx, by webhook-id. */
  acceptedIds(): string[];
  close(): Promise<void>;
}

/**
 * A webhook endpoint on loopback for tests: records every request with its raw body and answers
 * as `answer` says (200 by default).
 */
export async function startWebhookReceiver(
  answer: WebhookReceiver['answer'] = () => ({ status: 200 }),
): Promise<WebhookReceiver> {
  const requests: ReceivedRequest[] = [];
  const hanging = new Set<ServerResponse>();
  const receiver: WebhookReceiver = {
    url: '',
    requests,
    answer,
    acceptedIds: () =>
      requests
        .filter((r) => r.status !== null && r.status >= 200 && r.status < 300)
        .map((r) => String(r.headers['webhook-id'])),
    close: async () => {
      for (const response of hanging) response.destroy();
      server.closeAllConnections();
      server.close();
      await once(server, 'close');
    },
  };
  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () => {
      const request: ReceivedRequest = {
        path: req.url ?? '/',
        headers: req.headers,
        body: Buffer.concat(chunks).toString('utf8'),
        at: Date.now(),
        status: null,
      };
      const id = req.headers['webhook-id'];
      const count = requests.filter((r) => r.headers['webhook-id'] === id).length;
      requests.push(request);
      const reply = receiver.answer(request, count);
      if (reply === 'hang') {
        hanging.add(res);
        res.on('close', () => hanging.delete(res));
        return;
      }
      request.status = reply.status;
      res.writeHead(reply.status, { 'content-type': 'text/plain', ...reply.headers });
      if (reply.stall) {
        res.write(reply.body ?? ' ');
        hanging.add(res);
        res.on('close', () => hanging.delete(res));
        return;
      }
      res.end(reply.body ?? '');
    });
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  receiver.url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return receiver;
}

/** Verifies a request with the standardwebhooks package (the reference algorithm); throws when invalid. */
export function verifyStandardWebhook(
  secret: string,
  request: ReceivedRequest,
): { id: string; type: string; timestamp: string; data: Record<string, unknown> } {
  const headers = Object.fromEntries(
    Object.entries(request.headers).map(([key, value]) => [
      key,
      Array.isArray(value) ? value.join(',') : String(value),
    ]),
  );
  return new Webhook(secret).verify(request.body, headers) as ReturnType<typeof verifyStandardWebhook>;
}

/** A fresh `whsec_` secret (24 random bytes). */
export function randomWebhookSecret(): string {
  return `whsec_${Buffer.from(crypto.getRandomValues(new Uint8Array(24))).toString('base64')}`;
}
