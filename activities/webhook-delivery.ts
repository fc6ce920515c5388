import { ApplicationFailure } from '@temporalio/activity';
import { currentActivity } from './runtime/activity-context';
import { Webhook } from 'standardwebhooks';
import { InferenceEntity, WebhookDeliveryEntity } from '../src/platform/database/entities';
import { recordWebhookAttempt } from '../src/platform/metrics/metrics';
import type { ActivityDeps } from './deps';
import { checkWebhookDestination, WebhookDestinationError } from '../src/geo/webhooks/webhook-destination';
import { UrlPolicyError, webhookAddressPolicy } from '../src/geo/net/address-policy';
import { guardedGet } from '../src/geo/net/guarded-fetch';

export interface WebhookEvent {
  type: 'inference.completed' | 'inference.failed' | 'inference.stopped';
  timestamp: string;
  data: Record<string, unknown>;
}

export interface DeliverWebhookRequest {
  inferenceId: string;
  /** Same on every attempt so receivers can deduplicate (Standard Webhooks `webhook-id`). */
  webhookId: string;
  event: WebhookEvent;
}

export interface DeliverWebhookResult {
  delivered: boolean;
  status_code?: number;
  attempts: number;
  skipped?: string;
}

function currentAttempt(): number {
  return currentActivity()?.info.attempt ?? 1;
}

/**
 * Webhook delivery as a durable activity: Temporal retries it with exponential backoff (surviving worker
 * restarts); every attempt is recorded. Signed per the Standard Webhooks spec (HMAC-SHA256 over
 * `id.timestamp.body`). 2xx = delivered; 410 Gone stops retrying; anything else is retried.
 */
export function createWebhookActivities(deps: ActivityDeps) {
  const deliveries = () => deps.dataSource.getRepository(WebhookDeliveryEntity);

  return {
    async deliverWebhook(request: DeliverWebhookRequest): Promise<DeliverWebhookResult> {
      const attempt = currentAttempt();
      const inference = await deps.dataSource
        .getRepository(InferenceEntity)
        .createQueryBuilder('inference')
        .addSelect('inference.webhookSecret')
        .where('inference.id = :id', { id: request.inferenceId })
        .getOne();
      if (!inference) return { delivered: false, attempts: attempt - 1, skipped: 'the inference was deleted' };
      if (inference.webhookRevokedAt)
        return { delivered: false, attempts: attempt - 1, skipped: 'the webhook was revoked by its owner' };
      const url = inference.webhookUrl ?? deps.config.DEFAULT_WEBHOOK_URL;
      if (!url) return { delivered: false, attempts: 0, skipped: 'no webhook configured' };

      const started = Date.now();
      const record = async (fields: {
        statusCode?: number;
        error?: string;
        delivered: boolean;
        nonRetryable?: boolean;
      }) => {
        recordWebhookAttempt(
          fields.delivered ? 'delivered' : fields.nonRetryable ? 'rejected' : 'failed',
          (Date.now() - started) / 1000,
        );
        await deliveries().insert({
          inferenceId: request.inferenceId,
          webhookId: request.webhookId,
          eventType: request.event.type,
          url,
          attempt,
          attemptedAt: new Date(started),
          durationMs: Date.now() - started,
          statusCode: fields.statusCode ?? null,
          error: fields.error ?? null,
          delivered: fields.delivered,
        });
      };
      const fail = async (message: string, nonRetryable: boolean, statusCode?: number): Promise<never> => {
        await record({ statusCode, error: message, delivered: false, nonRetryable });
        throw ApplicationFailure.create({
          message,
          type: nonRetryable ? 'WebhookRejected' : 'WebhookDeliveryError',
          nonRetryable,
        });
      };

      const secret = inference.webhookSecret ?? deps.config.WEBHOOK_SECRET;
      if (!secret) return fail('no webhook secret: set WEBHOOK_SECRET or pass webhook_secret with the inference', true);
      try {
        await checkWebhookDestination(url, webhookAddressPolicy(deps.config));
      } catch (error) {
        if (error instanceof WebhookDestinationError) return fail(`webhook_url ${error.message}`, true);
        throw error;
      }

      const body = JSON.stringify(request.event);
      const timestamp = new Date();
      const signature = new Webhook(secret).sign(request.webhookId, timestamp, body);
      let status: number;
      try {
        // Redirects are not followed: a redirect could lead the signed request to an address we would refuse.
        // The address is checked again when connecting (a name may resolve elsewhere than at request time).
        const response = await guardedGet(url, {
          policy: webhookAddressPolicy(deps.config),
          method: 'POST',
          maxRedirects: 0,
          timeoutMs: deps.config.WEBHOOK_TIMEOUT_MS,
          headers: {
            'content-type': 'application/json',
            'user-agent': 'geo-inference-webhooks/1',
            'webhook-id': request.webhookId,
            'webhook-timestamp': String(Math.floor(timestamp.getTime() / 1000)),
            'webhook-signature': signature,
          },
          body,
        });
        status = response.status;
        response.body.resume();
      } catch (error) {
        if (error instanceof UrlPolicyError) return fail(`webhook_url ${error.message}`, true);
        const cause = (error as NodeJS.ErrnoException).code;
        return fail(`POST ${url} failed: ${(error as Error).message}${cause ? ` (${cause})` : ''}`, false);
      }
      if (status >= 200 && status < 300) {
        await record({ statusCode: status, delivered: true });
        return { delivered: true, status_code: status, attempts: attempt };
      }
      if (status === 410) return fail('the receiver answered 410 Gone: retries stopped', true, 410);
      return fail(`the receiver answered HTTP ${status}`, false, status);
    },
  };
}
