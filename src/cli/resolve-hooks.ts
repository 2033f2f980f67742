/**
 * Loaded with `node --import` before the CLI (bin/swas-inventory). Enables Node's compile cache,
 * and resolves `drizzle-orm` to its CommonJS build. Node's ESM loader looks up the nearest package.json for every module it loads,
 * and drizzle-orm's (180 kB of export map) is read again for each of its ~150 modules: about 1 s and
 * 200 MB of garbage at start-up, a fixed cost of every command. Its CommonJS build is the same
 * code, loaded by the CommonJS loader, which keeps that lookup cached. Every drizzle import of the
 * process goes through here, so there is one copy of the library. Tests run without the hook (on
 * the ESM build), which is the same API.
 */
import { enableCompileCache, registerHooks } from 'node:module';

// Node's on-disk compile cache (V8 code and the TypeScript it strips, keyed by content), in the
// system's temporary folder unless NODE_COMPILE_CACHE names one: every command after the first
// starts warm. It never changes what runs; a folder that cannot be written means no cache.
enableCompileCache();

registerHooks({
  resolve(specifier, context, nextResolve) {
    if (specifier === 'drizzle-orm' || specifier.startsWith('drizzle-orm/')) {
      return nextResolve(specifier, { ...context, conditions: ['node', 'require'] });
    }
    return nextResolve(specifier, context);
  },
});
