import { Body, Controller, HttpCode, Param, ParseUUIDPipe, Post } from '@nestjs/common';
import { ApiBody, ApiOkResponse, ApiOperation, ApiTags } from '@nestjs/swagger';
import { z } from 'zod';
import { InferencesRepository } from '../../platform/database/repositories';
import { CurrentUser } from '../auth/current-user.decorator';
import { TokenGenerations } from '../auth/token-generations';
import { ApiError } from '../http/api-error';
import { parseOrThrow } from '../http/zod-validation';
import { openApiSchema } from '../openapi/zod-openapi';
import { ownedInference } from './owned-inference';

const uuidPipe = new ParseUUIDPipe({ exceptionFactory: () => ApiError.badRequest('id: must be a UUID', 'id') });

const revokeTokensSchema = z
  .object({
    webhook: z
      .boolean()
      .default(false)
      .describe('also revoke the webhook: no more deliveries, and its webhook_secret is deleted'),
  })
  .strict();

const revokedTokensSchema = z.object({
  inference_id: z.string().uuid(),
  token_generation: z.number().int().describe('tokens are now signed with this generation; earlier ones are refused'),
  webhook_revoked: z.boolean(),
});

/**
 * Revocation of the credentials an inference hands out: tile URL templates, map page URLs and events tokens
 * (all signed with the inference's token generation) and optionally its webhook.
 */
@ApiTags('inferences')
@Controller('api/v2/inference')
export class InferenceTokensController {
  constructor(
    private readonly inferences: InferencesRepository,
    private readonly generations: TokenGenerations,
  ) {}

  @Post(':id/revoke-tokens')
  @HttpCode(200)
  @ApiOperation({
    summary:
      'Revoke every tile, map and events token of the inference issued so far (GET .../tasks gives fresh ones); optionally its webhook',
  })
  @ApiBody({ schema: openApiSchema(revokeTokensSchema), required: false })
  @ApiOkResponse({ schema: openApiSchema(revokedTokensSchema) })
  async revoke(@Param('id', uuidPipe) id: string, @Body() body: unknown, @CurrentUser() user: string) {
    const empty = body === undefined || body === null || (typeof body === 'object' && Object.keys(body).length === 0);
    const request = parseOrThrow(revokeTokensSchema, empty ? {} : body);
    const inference = await ownedInference(this.inferences, id, user);
    const generation = await this.generations.revoke(inference.id);
    if (request.webhook) await this.inferences.revokeWebhook(inference.id);
    return {
      inference_id: inference.id,
      token_generation: generation,
      webhook_revoked: request.webhook || inference.webhookRevokedAt !== null,
    };
  }
}
