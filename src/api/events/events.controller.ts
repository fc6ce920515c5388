import { Controller, Get, HttpCode, Inject, Param, ParseUUIDPipe, Post, Req, Res, UseGuards } from '@nestjs/common';
import {
  ApiBearerAuth,
  ApiHeader,
  ApiNoContentResponse,
  ApiOkResponse,
  ApiOperation,
  ApiProduces,
  ApiQuery,
  ApiResponse,
  ApiTags,
} from '@nestjs/swagger';
import { InjectDataSource } from '@nestjs/typeorm';
import type { Request, Response } from 'express';
import type { DataSource } from 'typeorm';
import {
  type EventsTokenResponse,
  INFERENCE_EVENT_TYPES,
  inferenceEventsUrl,
} from '../../../workflows/contract/events';
import type { AppConfig } from '../../platform/config/config';
import { InferenceEntity } from '../../platform/database/entities';
import { lastInferenceEventSeq } from '../../platform/database/inference-events';
import { resolveUrlSigningSecret } from '../../platform/storage/filesystem-object-store';
import { CurrentUser } from '../auth/current-user.decorator';
import { Public } from '../auth/public.decorator';
import { APP_CONFIG } from '../config.module';
import { ApiError } from '../http/api-error';
import { API_KEY_SCHEME } from '../openapi/openapi';
import { EventsAccessGuard } from './events-access.guard';
import { InferenceEventsHub, type Subscription } from './events-hub';
import { signEventsToken } from './events-token';
import { ApiJsonResponse } from '../openapi/response-schemas';

const uuidPipe = new ParseUUIDPipe({
  exceptionFactory: () => ApiError.badRequest('inference_id: must be a UUID', 'inference_id'),
});
const FINAL = new Set(['COMPLETED', 'FAILED', 'STOPPED']);
/** A client this far behind (bytes queued) gets no more until its socket drains. */
const HIGH_WATER_BYTES = 1024 * 1024;

const streamExample = [
  'retry: 2000',
  '',
  'id: 1',
  'event: inference.status',
  'data: {"status":"PENDING","message":null,"at":"2025-06-15T10:00:00.000Z"}',
  '',
  'id: 4',
  'event: step.status',
  'data: {"task_id":"...-task-001","step_id":"terrakit-data-fetch","step_number":0,"status":"RUNNING","message":null,"at":"..."}',
  '',
  ': keep-alive',
  '',
  'id: 12',
  'event: inference.end',
  'data: {"status":"COMPLETED","at":"2025-06-15T10:01:10.000Z"}',
  '',
].join('\n');

/** The cursor of a (re)connecting client: the Last-Event-ID header wins, as EventSource sends it on reconnects. */
function cursorOf(request: Request): number {
  const header = request.headers['last-event-id'];
  const query = request.query.last_event_id;
  const [raw, field] =
    typeof header === 'string' && header !== '' ? [header, 'Last-Event-ID'] : [query, 'last_event_id'];
  if (raw === undefined || raw === '') return 0;
  if (typeof raw !== 'string' || !/^\d{1,15}$/.test(raw))
    throw ApiError.badRequest(`${field}: must be the id of an event of this stream (a whole number)`, field);
  return Number(raw);
}

@ApiTags('inference')
@Controller('api/v2/inference')
export class EventsController {
  private readonly secret: string;

  constructor(
    @InjectDataSource() private readonly dataSource: DataSource,
    @Inject(APP_CONFIG) private readonly config: AppConfig,
    private readonly hub: InferenceEventsHub,
  ) {
    this.secret = resolveUrlSigningSecret(config);
  }

  private async owned(id: string, user: string): Promise<InferenceEntity> {
    const inference = await this.dataSource.getRepository(InferenceEntity).findOneBy({ id, createdBy: user });
    if (!inference) throw ApiError.notFound(`inference ${id} not found`);
    return inference;
  }

  @Get(':id/events')
  @Public('api-key-or-events-token')
  @UseGuards(EventsAccessGuard)
  @ApiBearerAuth(API_KEY_SCHEME)
  @ApiOperation({
    summary:
      'Live events of the inference (Server-Sent Events); replays from Last-Event-ID, closes after inference.end',
    description:
      'Events: `inference.status`, `task.status`, `step.status`, `step.progress`, `task.output`, `inference.end` ' +
      '(JSON data, see docs/events.md). `id` is monotonic per inference; reconnect with the `Last-Event-ID` header ' +
      '(or `?last_event_id=`) to resume without gaps or duplicates. `: keep-alive` comments every ~15 s. ' +
      'Credential: the API key, or `?token=` from POST /api/v2/inference/{id}/events/token.',
  })
  @ApiProduces('text/event-stream')
  @ApiQuery({ name: 'token', required: false, description: 'events token instead of the API key' })
  @ApiQuery({ name: 'last_event_id', required: false, description: 'resume after this event id' })
  @ApiHeader({
    name: 'Last-Event-ID',
    required: false,
    description: 'resume after this event id (wins over the query)',
  })
  @ApiOkResponse({
    description: 'the event stream (text/event-stream)',
    content: {
      'text/event-stream': {
        // One server-sent event (the stream is a sequence of them); `data` is a JSON document.
        schema: {
          type: 'object',
          properties: {
            id: { type: 'string' },
            event: { type: 'string', enum: [...INFERENCE_EVENT_TYPES] },
            data: { type: 'string' },
            retry: { type: 'integer' },
          },
        },
        example: streamExample,
      },
    },
  })
  @ApiNoContentResponse({ description: 'the inference has ended and the client has every event: stop reconnecting' })
  @ApiResponse({ status: 401, description: 'neither an API key nor a token' })
  @ApiResponse({ status: 403, description: 'the token is malformed, expired or not for this inference' })
  @ApiResponse({ status: 404, description: "no such inference of the caller's" })
  async events(
    @Param('id', uuidPipe) id: string,
    @CurrentUser() user: string,
    @Req() request: Request,
    @Res() response: Response,
  ): Promise<void> {
    const cursor = cursorOf(request);
    const inference = await this.owned(id, user);
    const last = await lastInferenceEventSeq(this.dataSource, id);
    if (cursor > last)
      throw ApiError.badRequest(
        `Last-Event-ID: ${cursor} is after the last event of inference ${id} (${last})`,
        'Last-Event-ID',
      );
    if (FINAL.has(inference.status) && cursor === last) {
      response.status(204).end();
      return;
    }

    response.status(200);
    response.setHeader('Content-Type', 'text/event-stream; charset=utf-8');
    response.setHeader('Cache-Control', 'no-cache, no-transform');
    response.setHeader('Connection', 'keep-alive');
    // nginx and similar proxies would otherwise buffer the stream.
    response.setHeader('X-Accel-Buffering', 'no');
    response.flushHeaders();
    request.socket.setNoDelay(true);
    response.write('retry: 2000\n\n');

    let subscription: Subscription | undefined = undefined;
    // Ended as of the last inference-level event sent: a retry's PENDING reopens it, a later message does not.
    let ended = false;
    const finish = () => {
      subscription?.unsubscribe();
      if (!response.writableEnded) response.end();
    };
    subscription = this.hub.subscribe(id, cursor, {
      deliver: (events, more) => {
        if (response.writableEnded) return true;
        response.write(events.map((event) => event.text).join(''));
        for (const event of events) if (event.ended !== undefined) ended = event.ended;
        if (!more && ended) {
          finish();
          return true;
        }
        if (response.writableLength < HIGH_WATER_BYTES) return true;
        response.once('drain', () => subscription?.resume());
        return false;
      },
      keepAlive: () => {
        if (!response.writableEnded) response.write(': keep-alive\n\n');
      },
      close: finish,
    });
    response.on('close', () => subscription?.unsubscribe());
    // The client may have gone while the stream was being set up ('close' came before the listener).
    if (response.destroyed || request.socket.destroyed) finish();
  }

  @Post(':id/events/token')
  @HttpCode(201)
  @ApiOperation({
    summary: 'A short-lived token for the events URL of this inference (for EventSource, which cannot send headers)',
  })
  @ApiJsonResponse(201, 'EventsToken', 'the token and the events URL carrying it', {
    token: '1750000000.YWxpY2VAZXhhbXBsZS5jb20.9f2c…',
    expires_at: '2025-06-15T11:00:00.000Z',
    events_url: 'https://geo.example.com/api/v2/inference/0b6f…/events?token=1750000000.YWxpY2VAZXhhbXBsZS5jb20.9f2c…',
  })
  async token(@Param('id', uuidPipe) id: string, @CurrentUser() user: string): Promise<EventsTokenResponse> {
    const inference = await this.owned(id, user);
    const expires = Math.floor(Date.now() / 1000) + this.hub.config.EVENTS_TOKEN_TTL_SECONDS;
    const token = signEventsToken(id, user, expires, this.secret, inference.tokenGeneration);
    return {
      token,
      expires_at: new Date(expires * 1000).toISOString(),
      events_url: `${inferenceEventsUrl(this.config.publicBaseUrl, id)}?token=${encodeURIComponent(token)}`,
    };
  }
}
