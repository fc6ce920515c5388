import { Module } from '@nestjs/common';
import { TilesController } from './tiles.controller';
import { TilesService } from './tiles.service';

/** Built-in XYZ map tiles of task outputs (GET /tiles/...) and the signed tile URL templates. */
@Module({
  controllers: [TilesController],
  providers: [TilesService],
  exports: [TilesService],
})
export class TilesModule {}
