/**
 * Loaded before anything else by bin/swas-inventory, and with `node --import` by the worker entry
 * run directly (`node --import ./bin/compile-cache.mjs src/main.ts`): enables Node's on-disk
 * compile cache (V8 code and the TypeScript it strips, keyed by content) from the next module on,
 * in the system's temporary folder unless NODE_COMPILE_CACHE names one, so every start after the
 * first is warm. It never changes what runs; a folder that cannot be written means no cache.
 *
 * Plain JavaScript on purpose: the first TypeScript file a process meets without the cache makes
 * Node load its type stripper (~75-100 ms of start-up), and with the cache on, it never needs it.
 */
import { enableCompileCache } from 'node:module';
import { tmpdir } from 'node:os';

// With NODE_COMPILE_CACHE set, Node has already enabled the cache there and this call changes nothing.
enableCompileCache(`${tmpdir()}/swas-inventory-compile-cache`);
