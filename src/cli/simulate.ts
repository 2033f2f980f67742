import type { Command } from 'commander';
import type { CommandContext } from './context.ts';
import { parseInteger } from './options.ts';

/** `simulate [--port N] [--seed N]`: serves the built-in SWAS simulator until interrupted. */
export function registerSimulateCommand(program: Command, context: CommandContext): void {
  program
    .command('simulate')
    .description('run the built-in SWAS API simulator (ListRegions, ListCustomImages, admin API, faults)')
    .option('--port <n>', 'port to listen on (0 picks a free one)', '8787')
    .option('--host <address>', 'address to bind', '127.0.0.1')
    .option('--seed <n>', 'seed of the generated images', '1')
    .option('--no-quota', 'serve without the 10 calls/minute per account quota')
    .action(async (options: { port: string; host: string; seed: string; quota: boolean }) => {
      const config = await context.loadConfig();
      const { startSimulator } = await import('../simulator/index.ts');
      const simulator = await startSimulator({
        host: options.host,
        port: parseInteger('--port', options.port, 0, 65_535),
        seed: parseInteger('--seed', options.seed, 0, 2 ** 31 - 1),
        ...(options.quota ? {} : { quota: null }),
      });
      context.logger(config).info({ url: simulator.url }, 'simulator listening');
      context.out(
        [
          `SWAS simulator listening on ${simulator.url}`,
          `  credentials: ALIBABA_CLOUD_ACCESS_KEY_ID=testid ALIBABA_CLOUD_ACCESS_KEY_SECRET=testsecret`,
          `  use it with: SWAS_ENDPOINT=${simulator.url}`,
          `  admin API:   ${simulator.url}/_admin/regions`,
        ].join('\n'),
      );
      await new Promise<void>((resolve) => {
        const stop = () => resolve();
        process.once('SIGINT', stop);
        process.once('SIGTERM', stop);
      });
      await simulator.close();
    });
}
