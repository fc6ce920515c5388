import type { Readable } from 'node:stream';
import { Inject, Injectable, Logger, type StreamableFile } from '@nestjs/common';
import { streamedDownload } from '../http/streamed-download';
import type { AppConfig } from '../../platform/config/config';
import { InferencesRepository, WebhookDeliveriesRepository } from '../../platform/database/repositories';
import type { ObjectStore } from '../../platform/storage/object-store';
import { APP_CONFIG } from '../config.module';
import { OBJECT_STORE } from '../storage.module';
import { ApiError } from '../http/api-error';
import { webhookDeliveryView } from './inference-views';
import { ownedInference } from './owned-inference';

/** What an inference produced besides its task outputs: the COCO export and the webhook deliveries. */
@Injectable()
export class InferenceResultsService {
  private readonly logger = new Logger(InferenceResultsService.name);

  constructor(
    @Inject(APP_CONFIG) private readonly config: AppConfig,
    @Inject(OBJECT_STORE) private readonly store: ObjectStore,
    private readonly inferences: InferencesRepository,
    private readonly deliveries: WebhookDeliveriesRepository,
  ) {}

  /** The inference's COCO export as a JSON download, or 404 saying why there is none. */
  async coco(id: string, user: string): Promise<StreamableFile> {
    const inference = await ownedInference(this.inferences, id, user);
    if (!inference.cocoKey) {
      const reason =
        inference.status === 'PENDING' || inference.status === 'RUNNING'
          ? `the inference is ${inference.status}; the export is written when its tasks have finished`
          : inference.status === 'STOPPED'
            ? 'the inference was stopped before its tasks finished'
            : `the inference ended ${inference.status} without one (the export failed, or the inference predates COCO exports)`;
      throw ApiError.notFound(`no COCO export for inference ${inference.id} yet: ${reason}`);
    }
    let stream: Readable;
    try {
      stream = await this.store.getStream(inference.cocoKey);
    } catch (error) {
      this.logger.warn(`COCO export ${inference.cocoKey} unreadable: ${(error as Error).message}`);
      throw ApiError.notFound(`the COCO export of inference ${inference.id} is no longer in storage`);
    }
    return streamedDownload(
      stream,
      { type: 'application/json', disposition: `attachment; filename="${inference.id}-coco.json"` },
      this.logger,
    );
  }

  /** Every webhook delivery attempt of the inference, and whether any was delivered. */
  async webhookDeliveries(id: string, user: string) {
    const inference = await ownedInference(this.inferences, id, user);
    const rows = await this.deliveries.listFor(inference.id);
    return {
      inference_id: inference.id,
      webhook_url: inference.webhookUrl ?? this.config.DEFAULT_WEBHOOK_URL ?? null,
      delivered: rows.some((row) => row.delivered),
      results: rows.map(webhookDeliveryView),
      total_records: rows.length,
    };
  }
}
