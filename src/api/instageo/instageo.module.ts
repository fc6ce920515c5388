import { Module } from '@nestjs/common';
import { InferencesModule } from '../inferences/inferences.module';
import { InstageoController } from './instageo.controller';
import { InstageoService } from './instageo.service';

/** The InstaGeo task API (seed 003) over the v2 inferences. */
@Module({
  imports: [InferencesModule],
  controllers: [InstageoController],
  providers: [InstageoService],
})
export class InstageoModule {}
