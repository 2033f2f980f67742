// Preloaded (NODE_OPTIONS=--import) by the launcher test: this Node reports itself as v20.20.2 and,
// like that Node, cannot load TypeScript, until the launcher re-runs under a newer one (it marks
// that run with SWAS_NODE_RERUN), which then has its real version and abilities.
import { registerHooks } from 'node:module';

if (!process.env.SWAS_NODE_RERUN) {
  Object.defineProperty(process, 'versions', { value: { ...process.versions, node: '20.20.2' } });
  registerHooks({
    load(url, context, nextLoad) {
      if (url.endsWith('.ts')) throw new Error(`v20.20.2 cannot load TypeScript (${url})`);
      return nextLoad(url, context);
    },
  });
}
