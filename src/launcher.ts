import { Logger } from '@nestjs/common';
import type { AppConfig } from './platform/config/config';
import { startEmbeddedPostgres } from './platform/database/embedded-postgres';
import { assertPortFree, startTemporalDevServer } from './platform/temporal/dev-server';

export interface EmbeddedStack {
  /** Environment overrides pointing the app at the embedded services. */
  env: Record<string, string>;
  stop(): Promise<void>;
}

/**
 * Starts what is not configured: an embedded Postgres engine when DATABASE_URL is unset and a Temporal dev
 * server when TEMPORAL_ADDRESS is unset. Storage defaults to the filesystem store (no process needed).
 * The dev server creates the process's Temporal runtime: call installTemporalRuntime before this.
 */
export async function startEmbeddedStack(config: AppConfig): Promise<EmbeddedStack> {
  const logger = new Logger('Launcher');
  const env: Record<string, string> = {};
  const stops: Array<() => Promise<void>> = [];
  // Checked before anything starts: the API would otherwise fail to bind only after the services are up.
  await assertPortFree(config.PORT, 'PORT');
  try {
    if (!config.DATABASE_URL) {
      const database = await startEmbeddedPostgres(config.DATA_DIR);
      env.DATABASE_URL = database.url;
      // PGlite is one session: its socket server queues each wire message, so two pooled connections
      // interleave their Parse/Bind/Execute sequences ("portal does not exist", or a query that never gets
      // its answer: the hang seen under 20 concurrent clients). One pooled connection keeps each sequence whole.
      if (config.DATABASE_POOL_SIZE !== 1 && process.env.DATABASE_POOL_SIZE)
        logger.warn(
          `DATABASE_POOL_SIZE=${config.DATABASE_POOL_SIZE} ignored: the embedded engine takes one connection`,
        );
      env.DATABASE_POOL_SIZE = '1';
      stops.push(database.stop);
      logger.log(`embedded Postgres engine (PGlite) on ${database.url} with data in ${config.DATA_DIR}/pglite`);
    }
    if (!config.TEMPORAL_ADDRESS) {
      const temporal = await startTemporalDevServer(config);
      env.TEMPORAL_ADDRESS = temporal.address;
      env.TEMPORAL_UI_URL = config.TEMPORAL_UI_URL ?? temporal.uiUrl;
      stops.push(temporal.stop);
      logger.log(
        `Temporal dev server on ${temporal.address}, Web UI ${env.TEMPORAL_UI_URL}, state in ${config.DATA_DIR}/temporal`,
      );
    }
  } catch (error) {
    for (const stop of stops.reverse()) await stop().catch(() => undefined);
    throw error;
  }
  return {
    env,
    async stop() {
      for (const stop of stops.reverse())
        await stop().catch((error: Error) => logger.warn(`stop failed: ${error.message}`));
    },
  };
}
