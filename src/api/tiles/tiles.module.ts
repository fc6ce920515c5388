import { Module } from '@nestjs/common';
import { MapPageController } from './map-page.controller';
import { TilesController } from './tiles.controller';
import { TilesService } from './tiles.service';

/** Built-in XYZ map tiles of task outputs (GET /tiles/...), a map page (GET /map/...) and the signed tile URL templates. */
@Module({
  controllers: [TilesController, MapPageController],
  providers: [TilesService],
  exports: [TilesService],
})
export class TilesModule {}
