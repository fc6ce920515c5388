import { Module } from '@nestjs/common';
import { TypeOrmModule } from '@nestjs/typeorm';
import { AuthModule } from './auth/auth.module';
import type { AppConfig } from '../platform/config/config';
import { APP_CONFIG, ConfigModule } from './config.module';
import { ConsoleModule } from './console/console.module';
import { dataSourceOptions } from '../platform/database/data-source';
import { EventsModule } from './events/events.module';
import { GenericProcessorsModule } from './generic-processors/generic-processors.module';
import { HealthModule } from './health/health.module';
import { InferencesModule } from './inferences/inferences.module';
import { InstageoModule } from './instageo/instageo.module';
import { MetricsModule } from './metrics/metrics.module';
import { ModelsModule } from './models/models.module';
import { QueuesModule } from './queues/queues.module';
import { RepositoriesModule } from './repositories.module';
import { StorageModule } from './storage.module';
import { TasksModule } from './tasks/tasks.module';
import { TemporalModule } from './temporal.module';
import { TemporalCodecModule } from './temporal-codec/temporal-codec.module';
import { TilesModule } from './tiles/tiles.module';

@Module({
  imports: [
    ConfigModule,
    TypeOrmModule.forRootAsync({
      inject: [APP_CONFIG],
      useFactory: (config: AppConfig) => {
        if (!config.DATABASE_URL)
          throw new Error('DATABASE_URL is not set (the launcher sets it when it starts the embedded engine)');
        return {
          ...dataSourceOptions(config.DATABASE_URL, config.DATABASE_POOL_SIZE, config.DATABASE_CONNECT_TIMEOUT_MS),
          migrationsRun: true,
          migrationsTransactionMode: 'all',
        };
      },
    }),
    RepositoriesModule,
    StorageModule,
    TemporalModule,
    AuthModule,
    HealthModule,
    ModelsModule,
    GenericProcessorsModule,
    InferencesModule,
    InstageoModule,
    TasksModule,
    TilesModule,
    MetricsModule,
    QueuesModule,
    ConsoleModule,
    EventsModule,
    TemporalCodecModule,
  ],
})
export class AppModule {}
