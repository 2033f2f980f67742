import type { IncomingMessage, ServerResponse } from 'node:http';
import { AppError, isAppError } from '../shared/app-error.ts';
import type { SimulatorAdmin } from './admin.ts';
import type { Fault } from './faults.ts';
import { sendJsonText } from './http-io.ts';
import type { ImagePatch } from './simulator-image.ts';

/**
 * The HTTP admin API under `/_admin/`: JSON in and out, not signed, the same operations as
 * {@link SimulatorAdmin}. Path segments are percent-decoded.
 *
 * | route | body | answer |
 * |---|---|---|
 * | `GET /_admin/regions[?lang=en-US]` | | `{"regions":[{"regionId","localName","imageCount"}]}` |
 * | `PUT /_admin/regions/:region` | `{"images": 120}` or `{"images": [partial, …]}`, optional `"localName"` | `{"images":[…]}` (replaces the region's images) |
 * | `GET /_admin/regions/:region/images` | | `{"images":[…]}` in listing order |
 * | `POST /_admin/regions/:region/images` | partial image or nothing | 201, the image |
 * | `GET /_admin/regions/:region/images/:id` | | the image, or 404 |
 * | `PATCH /_admin/regions/:region/images/:id` | fields to change (`null` removes one) | the image |
 * | `DELETE /_admin/regions/:region/images/:id` | | 204, or 404 |
 * | `GET /_admin/faults` | | `{"faults":[…]}` with `id`, `remaining`, `applied` |
 * | `POST /_admin/faults` | a fault (faults.ts); `"times": "Infinity"` for a persistent one | 201, `{"id"}` |
 * | `DELETE /_admin/faults` | | 204, every fault removed |
 * | `DELETE /_admin/faults/:id` | | 204, or 404 |
 * | `GET /_admin/faults/:id/held` | | `{"held": n}`: answers a `hold` fault is holding |
 * | `POST /_admin/faults/:id/release` | | 204: the `hold` fault's answers go out; or 404 |
 * | `GET /_admin/calls` | | `{"calls":[…]}` (call-log.ts), oldest first |
 * | `DELETE /_admin/calls` | | 204, the log emptied |
 * | `DELETE /_admin/quota` | | 204, every counted call forgotten |
 *
 * Errors: `{"error":{"code","message"}}` with 400 (`simulator.invalid_request`,
 * `simulator.invalid_image`, `simulator.invalid_fault`), 404 (`simulator.not_found`) or 409
 * (`simulator.conflict`). Non-finite numbers (a fault's `times`) are written as `"Infinity"`.
 */
export type AdminHttpHandler = (request: IncomingMessage, response: ServerResponse, body: Buffer) => void;

export const ADMIN_PREFIX = '/_admin/';

const STATUS_BY_CODE: Readonly<Record<string, number>> = {
  'simulator.not_found': 404,
  'simulator.conflict': 409,
};

function send(response: ServerResponse, status: number, body?: unknown): void {
  if (status === 204) {
    response.writeHead(204).end();
    return;
  }
  const text = JSON.stringify(body, (_key, value: unknown) =>
    typeof value === 'number' && !Number.isFinite(value) ? String(value) : value,
  );
  sendJsonText(response, status, text);
}

function parseJson(body: Buffer): unknown {
  const text = body.toString('utf8').trim();
  if (text === '') return undefined;
  try {
    return JSON.parse(text);
  } catch (error) {
    throw new AppError('simulator.invalid_request', 'the body is not JSON', { cause: error });
  }
}

function objectBody(body: Buffer, required: boolean): Record<string, unknown> {
  const value = parseJson(body);
  if (value === undefined && !required) return {};
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw new AppError('simulator.invalid_request', 'the body must be a JSON object');
  }
  return value as Record<string, unknown>;
}

function decodeSegment(segment: string): string {
  try {
    return decodeURIComponent(segment);
  } catch {
    throw new AppError('simulator.invalid_request', `malformed path segment ${segment}`);
  }
}

export function createAdminHttpHandler(admin: SimulatorAdmin): AdminHttpHandler {
  const route = (
    method: string,
    segments: string[],
    search: URLSearchParams,
    body: Buffer,
  ): [number, unknown?] => {
    const notFound = (): never => {
      throw new AppError('simulator.not_found', `no admin route ${method} /_admin/${segments.join('/')}`);
    };
    // `/resource/key/collection/itemId`, e.g. `/regions/cn-hangzhou/images/m-…` or `/faults/f1`.
    const [resource, key, collection, itemId, ...rest] = segments;
    if (rest.length > 0) return notFound();
    if (resource === 'regions') {
      if (key === undefined) {
        if (method === 'GET') {
          return [200, { regions: admin.listRegions(search.get('lang') === 'en-US' ? 'en-US' : 'zh-CN') }];
        }
      } else if (collection === undefined) {
        if (method === 'PUT') {
          const input = objectBody(body, true);
          const images = input.images;
          const localName = typeof input.localName === 'string' ? input.localName : undefined;
          if (typeof images !== 'number' && !Array.isArray(images)) {
            throw new AppError('simulator.invalid_request', '"images" must be a count or a list of images');
          }
          const content = typeof images === 'number' ? images : (images as ImagePatch[]);
          return [
            200,
            { images: admin.setRegion(key, content, localName === undefined ? {} : { localName }) },
          ];
        }
      } else if (collection === 'images' && itemId === undefined) {
        if (method === 'GET') return [200, { images: admin.listImages(key) }];
        if (method === 'POST') return [201, admin.addImage(key, objectBody(body, false) as ImagePatch)];
      } else if (collection === 'images' && itemId !== undefined) {
        if (method === 'GET') {
          const image = admin.getImage(key, itemId);
          if (image === undefined)
            throw new AppError('simulator.not_found', `no image ${itemId} in region ${key}`);
          return [200, image];
        }
        if (method === 'PATCH')
          return [200, admin.updateImage(key, itemId, objectBody(body, true) as ImagePatch)];
        if (method === 'DELETE') {
          if (!admin.deleteImage(key, itemId))
            throw new AppError('simulator.not_found', `no image ${itemId} in region ${key}`);
          return [204];
        }
      }
    } else if (resource === 'faults' && collection === undefined) {
      if (key === undefined) {
        if (method === 'GET') return [200, { faults: admin.listFaults() }];
        if (method === 'POST')
          return [201, { id: admin.injectFault(objectBody(body, true) as unknown as Fault) }];
        if (method === 'DELETE') {
          admin.clearFaults();
          return [204];
        }
      } else if (method === 'DELETE') {
        if (!admin.removeFault(key)) throw new AppError('simulator.not_found', `no fault ${key}`);
        return [204];
      }
    } else if (resource === 'faults' && key !== undefined && itemId === undefined) {
      if (collection === 'held' && method === 'GET') return [200, { held: admin.heldCalls(key) }];
      if (collection === 'release' && method === 'POST') {
        if (!admin.releaseFault(key)) throw new AppError('simulator.not_found', `no fault ${key}`);
        return [204];
      }
    } else if (resource === 'calls' && key === undefined) {
      if (method === 'GET') return [200, { calls: admin.calls() }];
      if (method === 'DELETE') {
        admin.resetCalls();
        return [204];
      }
    } else if (resource === 'quota' && key === undefined && method === 'DELETE') {
      admin.resetQuota();
      return [204];
    }
    return notFound();
  };

  return (request, response, body) => {
    const url = new URL(request.url ?? '/', 'http://simulator');
    try {
      const segments = url.pathname.slice(ADMIN_PREFIX.length).split('/').filter(Boolean).map(decodeSegment);
      const [status, answer] = route(request.method ?? 'GET', segments, url.searchParams, body);
      send(response, status, answer);
    } catch (error) {
      if (!isAppError(error)) throw error;
      const status = STATUS_BY_CODE[error.code] ?? 400;
      send(response, status, { error: { code: error.code, message: error.message } });
    }
  };
}
