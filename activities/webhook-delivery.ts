import { ApplicationFailure } from '@temporalio/activity';
import { currentActivity } from './runtime/activity-context';
import { Webhook } from 'standardwebhooks';
import { InferenceEntity, WebhookDeliveryEntity, type WebhookDeliveryStatus } from '../src/platform/database/entities';
import { retryInfrastructureWithinActivity } from './runtime/infrastructure-retry';
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
 * restarts); every attempt is recorded, before it is sent (PENDING) and again with its answer. Signed per the Standard Webhooks spec (HMAC-SHA256 over
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

      let started = Date.now();
      const attempts = deliveries();
      /** The attempt's row: inserted PENDING just before the request leaves, completed once its answer is in. */
      let pendingId: string | undefined;
      const record = async (fields: {
        statusCode?: number;
        error?: string;
        delivered: boolean;
        nonRetryable?: boolean;
      }) => {
        const status: WebhookDeliveryStatus = fields.delivered
          ? 'DELIVERED'
          : fields.nonRetryable
            ? 'REJECTED'
            : 'FAILED';
        recordWebhookAttempt(
          fields.delivered ? 'delivered' : fields.nonRetryable ? 'rejected' : 'failed',
          (Date.now() - started) / 1000,
        );
        const outcome = {
          durationMs: Date.now() - started,
          statusCode: fields.statusCode ?? null,
          error: fields.error ?? null,
          delivered: fields.delivered,
          status,
        };
        // The request was sent: a database outage now must not make the activity send it again.
        await retryInfrastructureWithinActivity(
          async () => {
            if (pendingId) await attempts.update({ id: pendingId }, outcome);
            else
              await attempts.insert({
                ...base(),
                ...outcome,
              });
          },
          { what: 'webhook attempt record', onWait: () => currentActivity()?.heartbeat() },
        );
      };
      const base = () => ({
        inferenceId: request.inferenceId,
        webhookId: request.webhookId,
        eventType: request.event.type,
        url,
        attempt,
        attemptedAt: new Date(started),
      });
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

      // An attempt still PENDING was cut off (its worker lost, or this attempt rerun after an outage) before
      // its answer arrived: the receiver may have processed it.
      await attempts.update(
        { webhookId: request.webhookId, inferenceId: request.inferenceId, status: 'PENDING' },
        {
          status: 'UNKNOWN',
          error: 'no answer recorded: the worker sending it was lost; the receiver may have processed it',
        },
      );
      started = Date.now();
      const inserted = await attempts.insert({
        ...base(),
        durationMs: null,
        statusCode: null,
        error: null,
        delivered: false,
        status: 'PENDING',
      });
      pendingId = String((inserted.identifiers[0] as { id: string | number }).id);

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
