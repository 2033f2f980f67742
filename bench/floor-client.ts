/**
 * The listing floor of the sync benchmark: a minimal signed client, run as its own process. It
 * signs each ListCustomImages page with the project's signer (nothing else of the project is
 * loaded), fetches pages 1..n of one region sequentially with undici and `JSON.parse`s each body:
 * what any client must do to read the listing. Prints the images it read.
 *
 * With `twice` it reads the listing twice in the one process and prints both durations (ms): the
 * floor's own first against second, beside the sync's cold against warm (bench/noop-twice.ts).
 *
 * Usage: node bench/floor-client.ts <endpoint> <regionId> [twice]
 */
import { randomUUID } from 'node:crypto';
import { request } from 'undici';
import { canonicalQueryString, formatAcsDate, signAcs3 } from '../src/swas/signer.ts';

const [endpoint = 'http://127.0.0.1:9000', regionId = 'cn-hangzhou', mode] = process.argv.slice(2);
const url = new URL(endpoint);

async function readListing(): Promise<number> {
  let images = 0;
  for (let page = 1, pages = 1; page <= pages; page++) {
    const query = { PageNumber: String(page), PageSize: '100', RegionId: regionId };
    const signed = signAcs3(
      {
        method: 'POST',
        host: url.host,
        query,
        action: 'ListCustomImages',
        version: '2020-06-01',
        date: formatAcsDate(Date.now()),
        nonce: randomUUID(),
      },
      { accessKeyId: 'testid', accessKeySecret: 'testsecret' },
    );
    const response = await request(`${url.origin}/?${canonicalQueryString(query)}`, {
      method: 'POST',
      headers: signed.headers,
    });
    const body = JSON.parse(await response.body.text()) as { TotalCount: string; CustomImages: unknown[] };
    images += body.CustomImages.length;
    pages = Math.ceil(Number(body.TotalCount) / 100);
  }
  return images;
}

if (mode === 'twice') {
  const durations: number[] = [];
  for (let round = 0; round < 2; round++) {
    const started = performance.now();
    await readListing();
    durations.push(performance.now() - started);
  }
  process.stdout.write(`${durations.map((ms) => ms.toFixed(1)).join(' ')}\n`);
} else {
  process.stdout.write(`${await readListing()}\n`);
}
