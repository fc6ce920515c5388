import type { DataSource } from 'typeorm';
import { WebhookDeliveryEntity } from '../entities';

/** The `webhook_deliveries` table (written by the webhook activity, one row per attempt). */
export class WebhookDeliveriesRepository {
  constructor(private readonly dataSource: DataSource) {}

  /** Every delivery attempt of an inference, in the order they were made. */
  listFor(inferenceId: string): Promise<WebhookDeliveryEntity[]> {
    return this.dataSource
      .getRepository(WebhookDeliveryEntity)
      .find({ where: { inferenceId }, order: { attemptedAt: 'ASC', id: 'ASC' } });
  }
}
