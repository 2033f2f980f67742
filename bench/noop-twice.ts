/**
 * Cold against warm, for the sync benchmark: ONE process syncs a region twice through the real
 * composition root and prints both durations (ms). With nothing cached between syncs the two
 * should match; a gap would mean the process keeps state that makes later syncs cheaper.
 *
 * With a second region it syncs that one first and prints three durations: the other region's,
 * then the region's first and second. The region's first sync then comes after the process has
 * run a whole sync of the same size, just not of this region: the same as its second means the
 * gap of a fresh process is the process warming up, not anything kept about the region.
 *
 * Usage (environment as for `sync --once`; bench/sync-process.ts gives it the executable's node
 * flags): node bench/noop-twice.ts <regionId> [<otherRegionId>]
 */
import { createApp } from '../src/app.ts';
import { tuneHeap } from '../src/cli/context.ts';
import { loadConfig } from '../src/config/load-config.ts';
import { checkSchemaCurrent } from '../src/db/migrate.ts';
import { silentLogger } from '../src/observability/logger.ts';

const regionId = process.argv[2] ?? 'cn-hangzhou';
const otherRegionId = process.argv[3];
const config = loadConfig(process.env, { readFile: () => '' });
const app = createApp(config, { logger: silentLogger });
tuneHeap(); // as the CLI does once its modules are loaded
const account = config.accounts[0];
if (!account) throw new Error('no account configured');
// As `sync --once` does before it syncs: the schema check (which opens the first connection), with
// the rate budget's Redis loaded meanwhile and connected once the schema passed.
const schemaChecked = checkSchemaCurrent(app.database().db);
app.connectRateBudget(schemaChecked);
await schemaChecked;
// The use case `sync --once` and the worker call.
const regionSyncs = app.regionSyncs();
const durations: number[] = [];
for (const region of [...(otherRegionId === undefined ? [] : [otherRegionId]), regionId, regionId]) {
  const started = performance.now();
  const result = await regionSyncs.syncRegion(
    { account: account.name, regionId: region },
    { trigger: 'manual' },
  );
  if (result.status !== 'succeeded') throw new Error(`sync ${result.status}: ${result.error}`);
  durations.push(performance.now() - started);
}
await app.close();
process.stdout.write(`${durations.map((ms) => ms.toFixed(1)).join(' ')}\n`);
