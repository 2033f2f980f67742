import type { ImageStatus } from '../../sync/model.ts';
import { check, pgTable, sql, text } from '../drizzle.ts';

/**
 * The status codes SWAS reports (`'0'`..`'4'`). Kept here as data of the db layer (which may import
 * only types from `sync`); the `satisfies` clause and {@link AllStatusesListed} make the compiler
 * reject a list that drifts from `ImageStatus`. Labels are seeded by a hand-written migration.
 */
export const IMAGE_STATUS_CODES = ['0', '1', '2', '3', '4'] as const satisfies readonly ImageStatus[];

type AllStatusesListed =
  Exclude<ImageStatus, (typeof IMAGE_STATUS_CODES)[number]> extends never ? true : never;
const allStatusesListed: AllStatusesListed = true;
void allStatusesListed;

/** `status in ('0', …, '4')` for a CHECK constraint on any table holding a status code. */
export const statusCodeList = sql.raw(IMAGE_STATUS_CODES.map((code) => `'${code}'`).join(', '));

/** The transitional statuses (copying, creating): the images a watch poll re-reads between full syncs. */
export const TRANSITIONAL_STATUS_CODES = ['0', '4'] as const satisfies readonly ImageStatus[];

/**
 * `status in ('0', '4')` as a literal, so that a query's predicate and the partial index of
 * transitional images are the same text and the planner can use the index whatever the parameters.
 */
export const transitionalCodeList = sql.raw(TRANSITIONAL_STATUS_CODES.map((code) => `'${code}'`).join(', '));

/** `image_statuses`: the label of every status code, for joins in reports. */
export const imageStatuses = pgTable(
  'image_statuses',
  {
    code: text('code').primaryKey(),
    label: text('label').notNull().unique('image_statuses_label_key'),
  },
  (t) => [check('image_statuses_code_check', sql`${t.code} in (${statusCodeList})`)],
);
