import { Global, Module, type Provider } from '@nestjs/common';
import { DataSource } from 'typeorm';
import { REPOSITORIES } from '../platform/database/repositories';

/** The database repositories over the app's DataSource, each injectable by its class. */
const providers: Provider[] = REPOSITORIES.map((Repository) => ({
  provide: Repository,
  inject: [DataSource],
  useFactory: (dataSource: DataSource) => new Repository(dataSource),
}));

@Global()
@Module({ providers, exports: [...REPOSITORIES] })
export class RepositoriesModule {}
