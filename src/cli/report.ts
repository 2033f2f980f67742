import type { Command } from 'commander';
import type { EventsQuery, ReportScope, ReportWindow } from '../db/report-store.ts';
import { EVENT_TYPES, type EventType, isEventType } from '../shared/event-types.ts';
import type { CommandContext } from './context.ts';
import { collect, parseInstant, usageProblems } from './options.ts';
import { OUTPUT_FORMATS, type OutputFormat } from './report-output.ts';

export const REPORT_NAMES = [
  'inventory',
  'failures',
  'status-timeline',
  'shares',
  'sync-health',
  'as-of',
] as const;
export type ReportName = (typeof REPORT_NAMES)[number];

type TimeFlag = 'since' | 'until' | 'at';
/** The flags beyond --format/--account/--region that each report takes. */
const EXTRA_FLAGS: Record<ReportName, readonly (TimeFlag | 'image')[]> = {
  inventory: [],
  failures: ['since', 'until', 'image'],
  'status-timeline': ['since', 'until', 'image'],
  shares: ['since', 'until', 'image'],
  'sync-health': [],
  'as-of': ['at'],
};

export interface ReportFlags {
  format?: string;
  account: string[];
  region: string[];
  image: string[];
  since?: string;
  until?: string;
  at?: string;
}

export interface ReportRequest {
  name: ReportName;
  format: OutputFormat;
  scope: ReportScope;
  window: ReportWindow;
  imageIds: string[];
  at?: Date;
}

export interface EventsFlags {
  format?: string;
  account: string[];
  region: string[];
  image: string[];
  type: string[];
  since?: string;
  until?: string;
  limit: string;
}

export interface EventsRequest {
  format: OutputFormat;
  query: EventsQuery;
}

interface ParseEnv {
  now: number;
  /** stdout is a terminal: the default format is then `table`, else `json`. */
  isTty: boolean;
}

const isReportName = (value: string): value is ReportName =>
  (REPORT_NAMES as readonly string[]).includes(value);

function parseCommon(
  flags: { format?: string; since?: string; until?: string },
  env: ParseEnv,
  problems: ReturnType<typeof usageProblems>,
): { format: OutputFormat; window: ReportWindow } {
  let format: OutputFormat = env.isTty ? 'table' : 'json';
  if (flags.format !== undefined) {
    if ((OUTPUT_FORMATS as readonly string[]).includes(flags.format)) format = flags.format as OutputFormat;
    else problems.add(`--format must be one of ${OUTPUT_FORMATS.join(', ')}, got "${flags.format}"`);
  }
  const window: ReportWindow = {};
  for (const flag of ['since', 'until'] as const) {
    const text = flags[flag];
    if (text === undefined) continue;
    const date = parseInstant(text, env.now);
    if (date) window[flag] = date;
    else
      problems.add(
        `--${flag} must be a date, a date-time or a duration ago (2026-03-01, 2026-03-01T08:00Z, 7d), got "${text}"`,
      );
  }
  if (window.since && window.until && window.since >= window.until) {
    problems.add('--since must be earlier than --until');
  }
  return { format, window };
}

/** Checks every flag of `report NAME` and throws one `cli.usage` error naming all bad ones. */
export function parseReportRequest(name: string, flags: ReportFlags, env: ParseEnv): ReportRequest {
  const problems = usageProblems();
  if (!isReportName(name)) problems.add(`unknown report "${name}": one of ${REPORT_NAMES.join(', ')}`);
  const { format, window } = parseCommon(flags, env, problems);
  let at: Date | undefined;
  if (isReportName(name)) {
    const allowed = EXTRA_FLAGS[name];
    const given = (['since', 'until', 'at', 'image'] as const).filter((flag) =>
      flag === 'image' ? flags.image.length > 0 : flags[flag] !== undefined,
    );
    for (const flag of given) {
      if (!allowed.includes(flag)) problems.add(`--${flag} does not apply to report ${name}`);
    }
    if (name === 'as-of') {
      if (flags.at === undefined) problems.add('--at is required by report as-of (e.g. --at 2026-03-01)');
      else {
        at = parseInstant(flags.at, env.now);
        if (!at) problems.add(`--at must be a date, a date-time or a duration ago, got "${flags.at}"`);
      }
    }
  }
  problems.done();
  return {
    name: name as ReportName,
    format,
    scope: { accounts: flags.account, regions: flags.region },
    window,
    imageIds: flags.image,
    ...(at ? { at } : {}),
  };
}

/** Checks every flag of `events` and throws one `cli.usage` error naming all bad ones. */
export function parseEventsRequest(flags: EventsFlags, env: ParseEnv): EventsRequest {
  const problems = usageProblems();
  const { format, window } = parseCommon(flags, env, problems);
  const types: EventType[] = [];
  for (const type of flags.type) {
    if (isEventType(type)) types.push(type);
    else problems.add(`--type must be one of ${EVENT_TYPES.join(', ')}, got "${type}"`);
  }
  const limit = Number(flags.limit);
  if (!/^\d+$/.test(flags.limit) || limit < 1 || limit > 1_000_000) {
    problems.add(`--limit must be a whole number from 1 to 1000000, got "${flags.limit}"`);
  }
  problems.done();
  return {
    format,
    query: {
      accounts: flags.account,
      regions: flags.region,
      imageIds: flags.image,
      types,
      ...window,
      limit,
    },
  };
}

/**
 * `report NAME [--format table|json|csv] [--account NAME]… [--region ID]… [--since T] [--until T]
 * [--image ID]… [--at T]`: the reports, from the `reporting` views.
 */
export function registerReportCommand(program: Command, context: CommandContext): void {
  program
    .command('report')
    .description(`print a report from the reporting views: ${REPORT_NAMES.join(', ')}`)
    .argument('<name>', REPORT_NAMES.join(' | '))
    .option('--format <format>', 'table, json or csv (default: table on a terminal, else json)')
    .option('--account <name>', 'only this account (repeatable)', collect, [])
    .option('--region <id>', 'only this region (repeatable)', collect, [])
    .option('--since <time>', 'periods still going on at or after this time (date, date-time UTC, or 7d ago)')
    .option('--until <time>', 'periods that began before this time')
    .option('--image <id>', 'only this image (repeatable; failures, status-timeline, shares)', collect, [])
    .option('--at <time>', 'the moment of report as-of')
    .addHelpText(
      'after',
      `
Reports:
  inventory        listed images per account, region and status
  failures         every entry into create_failed or unavailable: when, how long, what came next
  status-timeline  every status period of every image
  shares           every period an image was shared to ECS or to other accounts
  sync-health      per region: last run, last complete run, consecutive failures, staleness
  as-of            the inventory at --at

Times are UTC unless they carry an offset; a duration means that long ago (--since 7d).
JSON: an array of objects, timestamps ISO 8601, durations in seconds.`,
    )
    .action(async (name: string, flags: ReportFlags) => {
      const request = parseReportRequest(name, flags, { now: Date.now(), isTty: context.isTty });
      const config = await context.loadConfig();
      // Loaded on use: the database stack is not needed for --help or a usage error.
      const { printReport } = await import('./report-run.ts');
      await printReport(context, config, request);
    });
}

/** `events [--type T]… [--image ID]… [--account NAME]… [--region ID]… [--since T] [--until T] [--limit N]`. */
export function registerEventsCommand(program: Command, context: CommandContext): void {
  program
    .command('events')
    .description('list recorded events, oldest first (the newest --limit matching ones)')
    .option('--type <type>', `only this event type (repeatable): ${EVENT_TYPES.join(', ')}`, collect, [])
    .option('--image <id>', 'only events of this image (repeatable)', collect, [])
    .option('--account <name>', 'only this account (repeatable)', collect, [])
    .option('--region <id>', 'only this region (repeatable)', collect, [])
    .option('--since <time>', 'events at or after this time (date, date-time UTC, or 7d ago)')
    .option('--until <time>', 'events before this time')
    .option('--limit <n>', 'at most this many events (the newest)', '1000')
    .option('--format <format>', 'table, json or csv (default: table on a terminal, else json)')
    .action(async (flags: EventsFlags) => {
      const request = parseEventsRequest(flags, { now: Date.now(), isTty: context.isTty });
      const config = await context.loadConfig();
      const { printEvents } = await import('./report-run.ts');
      await printEvents(context, config, request);
    });
}
