import type {
  EventRow,
  FailureRow,
  ImageVersionRow,
  InventoryRow,
  ShareRow,
  StatusPeriodRow,
  SyncHealthRow,
} from '../db/report-store.ts';
import type { Column } from './report-output.ts';

/**
 * What each report prints. The JSON keys are a contract for scripts: add keys, never
 * rename them. Durations are seconds; open periods have `leftAt` null and last until now.
 */
export const INVENTORY_COLUMNS: readonly Column<InventoryRow>[] = [
  { key: 'account', header: 'ACCOUNT', value: (r) => r.account },
  { key: 'regionId', header: 'REGION', value: (r) => r.regionId },
  { key: 'status', header: 'CODE', value: (r) => r.status, table: false },
  { key: 'statusLabel', header: 'STATUS', value: (r) => r.statusLabel },
  { key: 'images', header: 'IMAGES', value: (r) => r.images },
  { key: 'sharedImages', header: 'SHARED', value: (r) => r.sharedImages },
];

export const FAILURE_COLUMNS: readonly Column<FailureRow>[] = [
  { key: 'account', header: 'ACCOUNT', value: (r) => r.account },
  { key: 'regionId', header: 'REGION', value: (r) => r.regionId },
  { key: 'imageId', header: 'IMAGE', value: (r) => r.imageId },
  { key: 'name', header: 'NAME', value: (r) => r.name },
  { key: 'status', header: 'CODE', value: (r) => r.status, table: false },
  { key: 'statusLabel', header: 'FAILURE', value: (r) => r.statusLabel },
  { key: 'enteredAt', header: 'SINCE', value: (r) => r.enteredAt },
  { key: 'leftAt', header: 'UNTIL', value: (r) => r.leftAt },
  { key: 'durationSeconds', header: 'LASTED', value: (r) => r.durationSeconds, kind: 'duration' },
  { key: 'isCurrent', header: 'CURRENT', value: (r) => r.isCurrent, table: false },
  { key: 'endedBy', header: 'ENDED BY', value: (r) => r.endedBy, table: false },
  { key: 'nextStatus', header: 'NEXT CODE', value: (r) => r.nextStatus, table: false },
  {
    key: 'nextStatusLabel',
    header: 'THEN',
    value: (r) => r.nextStatusLabel,
    tableValue: (r) => r.nextStatusLabel ?? r.endedBy,
  },
  { key: 'currentStatus', header: 'NOW CODE', value: (r) => r.currentStatus, table: false },
  {
    key: 'currentStatusLabel',
    header: 'NOW',
    value: (r) => r.currentStatusLabel,
    tableValue: (r) => (r.deletedAt ? 'deleted' : r.currentStatusLabel),
  },
  { key: 'deletedAt', header: 'DELETED', value: (r) => r.deletedAt, table: false },
];

export const STATUS_TIMELINE_COLUMNS: readonly Column<StatusPeriodRow>[] = [
  { key: 'account', header: 'ACCOUNT', value: (r) => r.account },
  { key: 'regionId', header: 'REGION', value: (r) => r.regionId },
  { key: 'imageId', header: 'IMAGE', value: (r) => r.imageId },
  { key: 'period', header: 'PERIOD', value: (r) => r.period, table: false },
  { key: 'status', header: 'CODE', value: (r) => r.status, table: false },
  { key: 'statusLabel', header: 'STATUS', value: (r) => r.statusLabel },
  { key: 'enteredAt', header: 'FROM', value: (r) => r.enteredAt },
  { key: 'leftAt', header: 'UNTIL', value: (r) => r.leftAt },
  { key: 'durationSeconds', header: 'DURATION', value: (r) => r.durationSeconds, kind: 'duration' },
  { key: 'isCurrent', header: 'CURRENT', value: (r) => r.isCurrent, table: false },
  { key: 'endedBy', header: 'ENDED BY', value: (r) => r.endedBy },
  { key: 'nextStatus', header: 'NEXT CODE', value: (r) => r.nextStatus, table: false },
  { key: 'firstVersion', header: 'FIRST VERSION', value: (r) => r.firstVersion, table: false },
  { key: 'lastVersion', header: 'LAST VERSION', value: (r) => r.lastVersion, table: false },
];

export const SHARE_COLUMNS: readonly Column<ShareRow>[] = [
  { key: 'account', header: 'ACCOUNT', value: (r) => r.account },
  { key: 'regionId', header: 'REGION', value: (r) => r.regionId },
  { key: 'imageId', header: 'IMAGE', value: (r) => r.imageId },
  { key: 'name', header: 'NAME', value: (r) => r.name },
  { key: 'target', header: 'SHARED TO', value: (r) => r.target },
  { key: 'sharedAt', header: 'SINCE', value: (r) => r.sharedAt },
  { key: 'unsharedAt', header: 'UNTIL', value: (r) => r.unsharedAt },
  { key: 'durationSeconds', header: 'DURATION', value: (r) => r.durationSeconds, kind: 'duration' },
  { key: 'isCurrent', header: 'CURRENT', value: (r) => r.isCurrent, table: false },
  { key: 'endedBy', header: 'ENDED BY', value: (r) => r.endedBy },
];

export const SYNC_HEALTH_COLUMNS: readonly Column<SyncHealthRow>[] = [
  { key: 'account', header: 'ACCOUNT', value: (r) => r.account },
  { key: 'regionId', header: 'REGION', value: (r) => r.regionId },
  { key: 'state', header: 'STATE', value: (r) => r.state },
  { key: 'consecutiveFailures', header: 'FAILURES', value: (r) => r.consecutiveFailures },
  { key: 'lastRunStatus', header: 'LAST RUN', value: (r) => r.lastRunStatus },
  { key: 'lastRunStartedAt', header: 'STARTED', value: (r) => r.lastRunStartedAt },
  { key: 'lastRunFinishedAt', header: 'FINISHED', value: (r) => r.lastRunFinishedAt, table: false },
  { key: 'lastRunAbandoned', header: 'ABANDONED', value: (r) => r.lastRunAbandoned, table: false },
  { key: 'lastRunTrigger', header: 'TRIGGER', value: (r) => r.lastRunTrigger, table: false },
  { key: 'lastRunId', header: 'RUN', value: (r) => r.lastRunId, table: false },
  { key: 'lastSuccessStartedAt', header: 'LAST OK', value: (r) => r.lastSuccessStartedAt, table: false },
  { key: 'lastCompleteStartedAt', header: 'LAST COMPLETE', value: (r) => r.lastCompleteStartedAt },
  { key: 'lastCompleteRunId', header: 'COMPLETE RUN', value: (r) => r.lastCompleteRunId, table: false },
  { key: 'stalenessSeconds', header: 'STALE FOR', value: (r) => r.stalenessSeconds, kind: 'duration' },
  { key: 'lastRunError', header: 'ERROR', value: (r) => r.lastRunError },
];

export const AS_OF_COLUMNS: readonly Column<ImageVersionRow>[] = [
  { key: 'account', header: 'ACCOUNT', value: (r) => r.account },
  { key: 'regionId', header: 'REGION', value: (r) => r.regionId },
  { key: 'imageId', header: 'IMAGE', value: (r) => r.imageId },
  { key: 'name', header: 'NAME', value: (r) => r.name },
  { key: 'status', header: 'CODE', value: (r) => r.status, table: false },
  { key: 'statusLabel', header: 'STATUS', value: (r) => r.statusLabel },
  { key: 'inShare', header: 'ECS SHARE', value: (r) => r.inShare },
  { key: 'inShareUser', header: 'ACCOUNT SHARE', value: (r) => r.inShareUser },
  { key: 'osType', header: 'OS', value: (r) => r.osType, table: false },
  { key: 'creationTime', header: 'CREATED', value: (r) => r.creationTime, table: false },
  { key: 'version', header: 'VERSION', value: (r) => r.version },
  { key: 'validFrom', header: 'SINCE', value: (r) => r.validFrom },
  { key: 'validTo', header: 'UNTIL', value: (r) => r.validTo, table: false },
];

/** A line a person can read for an event's payload (the table's DETAIL column). */
export function eventDetail(row: EventRow): string {
  const data = row.data;
  const text = (key: string) => (typeof data[key] === 'string' ? (data[key] as string) : undefined);
  switch (row.type) {
    case 'image.status_changed':
      return `${text('fromLabel') ?? text('from') ?? '?'} → ${text('toLabel') ?? text('to') ?? '?'}`;
    case 'image.failed':
      return text('from') === undefined ? 'first seen failed' : `from ${text('from')}`;
    case 'image.shared':
    case 'image.unshared':
      return `to ${text('target') ?? '?'}`;
    case 'image.updated': {
      const changes = data.changes;
      return changes && typeof changes === 'object' ? Object.keys(changes).join(', ') : '';
    }
    case 'sync.deletions_held':
      return `${String(data.count ?? '?')} of ${String(data.total ?? '?')} held`;
    case 'image.created':
      return data.reappeared === true ? 'listed again' : '';
    case 'image.deleted':
      return '';
    default: {
      const never: never = row.type;
      return String(never);
    }
  }
}

export const EVENT_COLUMNS: readonly Column<EventRow>[] = [
  { key: 'id', header: 'ID', value: (r) => r.id, table: false },
  { key: 'occurredAt', header: 'TIME', value: (r) => r.occurredAt },
  { key: 'type', header: 'TYPE', value: (r) => r.type },
  { key: 'account', header: 'ACCOUNT', value: (r) => r.account },
  { key: 'regionId', header: 'REGION', value: (r) => r.regionId },
  { key: 'imageId', header: 'IMAGE', value: (r) => r.imageId },
  { key: 'baseline', header: 'BASELINE', value: (r) => r.baseline },
  { key: 'syncRunId', header: 'RUN', value: (r) => r.syncRunId, table: false },
  { key: 'detail', header: 'DETAIL', value: eventDetail },
  { key: 'data', header: 'DATA', value: (r) => r.data, table: false },
];
