/**
 * Loaded before anything else by bin/swas-inventory, and with `node --import` by the worker entry
 * run directly (`node --import ./src/cli/compile-cache.ts src/main.ts`): enables Node's on-disk
 * compile cache (V8 code and the TypeScript it strips, keyed by content) from the next module on,
 * in the system's temporary folder unless NODE_COMPILE_CACHE names one, so every start after the
 * first is warm. It never changes what runs; a folder that cannot be written means no cache.
 */
import { enableCompileCache } from 'node:module';
import { tmpdir } from 'node:os';

// With NODE_COMPILE_CACHE set, Node has already enabled the cache there and this call changes nothing.
enableCompileCache(`${tmpdir()}/swas-inventory-compile-cache`);
