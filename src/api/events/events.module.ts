import { Module } from '@nestjs/common';
import { loadEventsConfig } from '../../platform/config/events-config';
import { TilesModule } from '../tiles/tiles.module';
import { EventsAccessGuard } from './events-access.guard';
import { EventsController } from './events.controller';
import { EVENTS_CONFIG, InferenceEventsHub } from './events-hub';

/** Live events of inferences: GET /api/v2/inference/{id}/events (SSE) and its tokens (docs/events.md). */
@Module({
  imports: [TilesModule],
  controllers: [EventsController],
  providers: [{ provide: EVENTS_CONFIG, useFactory: () => loadEventsConfig() }, InferenceEventsHub, EventsAccessGuard],
})
export class EventsModule {}
