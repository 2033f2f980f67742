import { AppError, errorMessage } from '../shared/app-error.ts';
import type { Scope } from './model.ts';
import { mapWithConcurrency, type RegionSyncResult } from './run-sync.ts';

export interface FullSyncAccount {
  name: string;
  /** Region ids to sync, or `all` to discover them with ListRegions. */
  regions: 'all' | readonly string[];
}

export interface FullSyncDeps {
  /** ListRegions for the account (SWAS_REGIONS=all). */
  discoverRegions(account: string): Promise<string[]>;
  syncRegion(scope: Scope): Promise<RegionSyncResult>;
  /** Region syncs in flight at once (SYNC_CONCURRENCY). */
  concurrency: number;
  /** Called as each region finishes (progress output). */
  onResult?: (result: RegionSyncResult, done: number, total: number) => void;
}

export interface AccountFailure {
  account: string;
  error: string;
  errorCode?: string;
}

export interface FullSyncReport {
  results: RegionSyncResult[];
  /** Accounts whose regions could not be discovered (nothing of theirs was synced). */
  accountFailures: AccountFailure[];
  /** True when every region succeeded or was partial and every account was discovered. */
  ok: boolean;
}

/** One full sync of every (account, region): discovery first, then the regions with bounded concurrency. */
export async function runFullSync(
  deps: FullSyncDeps,
  accounts: readonly FullSyncAccount[],
): Promise<FullSyncReport> {
  const accountFailures: AccountFailure[] = [];
  const scopes: Scope[] = [];
  for (const account of accounts) {
    try {
      const regions = account.regions === 'all' ? await deps.discoverRegions(account.name) : account.regions;
      for (const regionId of regions) scopes.push({ account: account.name, regionId });
    } catch (error) {
      accountFailures.push({
        account: account.name,
        error: error instanceof AppError ? `${error.code}: ${error.message}` : errorMessage(error),
        ...(error instanceof AppError ? { errorCode: error.code } : {}),
      });
    }
  }
  let done = 0;
  const results = await mapWithConcurrency(scopes, deps.concurrency, async (scope) => {
    const result = await deps.syncRegion(scope);
    done += 1;
    deps.onResult?.(result, done, scopes.length);
    return result;
  });
  return {
    results,
    accountFailures,
    ok: accountFailures.length === 0 && results.every((r) => r.status !== 'failed'),
  };
}
