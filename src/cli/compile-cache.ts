/**
 * Loaded with `node --import` before the CLI (bin/swas-inventory) and the worker entry: enables
 * Node's on-disk compile cache (V8 code and the TypeScript it strips, keyed by content), in the
 * system's temporary folder unless NODE_COMPILE_CACHE names one, so every command after the first
 * starts warm. It never changes what runs; a folder that cannot be written means no cache.
 */
import { enableCompileCache } from 'node:module';

enableCompileCache();
