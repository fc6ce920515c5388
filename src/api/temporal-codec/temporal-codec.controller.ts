import { Body, Controller, Get, HttpCode, Inject, Post, Query } from '@nestjs/common';
import { ApiOkResponse, ApiOperation, ApiTags } from '@nestjs/swagger';
import type { Payload } from '@temporalio/common';
import { z } from 'zod';
import type { AppConfig } from '../../platform/config/config';
import {
  createdByAttribute,
  payloadCodecOf,
  PayloadCodecError,
  type AesGcmPayloadCodec,
} from '../../platform/temporal/payload-codec';
import { CurrentPrincipal } from '../auth/current-user.decorator';
import { AcceptsOidcAccessToken } from '../auth/oidc-token.decorator';
import type { Principal } from '../auth/principal';
import { APP_CONFIG } from '../config.module';
import { ApiError } from '../http/api-error';
import { jsonObjectBodyPipe, zodPipe } from '../http/zod-validation';
import { ApiZodBody, ApiZodQuery, openApiSchema } from '../openapi/zod-openapi';

const base64 = z
  .string()
  .max(4 * 1024 * 1024)
  .regex(/^[A-Za-z0-9+/_-]*={0,2}$/, 'must be base64');

/** Temporal's codec server protocol: payloads as JSON protobuf (bytes as base64). */
const payloadsSchema = z
  .object({
    payloads: z
      .array(z.object({ metadata: z.record(base64).default({}), data: base64.optional() }).passthrough())
      .max(10_000),
  })
  .passthrough();
type PayloadsBody = z.infer<typeof payloadsSchema>;

const pseudonymQuerySchema = z.object({ user: z.string().min(1).max(320) }).strict();

const fromJson = (payload: PayloadsBody['payloads'][number]): Payload => ({
  metadata: Object.fromEntries(
    Object.entries(payload.metadata).map(([key, value]) => [key, new Uint8Array(Buffer.from(value, 'base64'))]),
  ),
  data: new Uint8Array(Buffer.from(payload.data ?? '', 'base64')),
});

const toJson = (payload: Payload) => ({
  metadata: Object.fromEntries(
    Object.entries(payload.metadata ?? {}).map(([key, value]) => [key, Buffer.from(value).toString('base64')]),
  ),
  data: Buffer.from(payload.data ?? new Uint8Array()).toString('base64'),
});

/**
 * The codec server of the Temporal Web UI and CLI (`temporal workflow show --codec-endpoint ... --codec-auth`):
 * decodes and encodes payloads with the app's payload codec, for admins only (payloads carry users' inputs): admin
 * API keys, or the Web UI's signed-in users listed in TEMPORAL_UI_ADMIN_EMAILS / TEMPORAL_UI_ADMIN_GROUPS, whose
 * OpenID Connect access token the UI sends (TEMPORAL_CODEC_PASS_ACCESS_TOKEN). CORS for TEMPORAL_CODEC_CORS_ORIGINS
 * is answered by TemporalCodecCorsMiddleware.
 */
@ApiTags('temporal codec')
@AcceptsOidcAccessToken()
@Controller('api/v2/temporal-codec')
export class TemporalCodecController {
  private readonly codec?: AesGcmPayloadCodec;

  constructor(@Inject(APP_CONFIG) private readonly config: AppConfig) {
    this.codec = payloadCodecOf(config);
  }

  private requireAdmin(caller: Principal): void {
    if (!caller.admin)
      throw new ApiError(
        403,
        'the Temporal codec endpoint is for admins only (admin API keys, or Web UI users in TEMPORAL_UI_ADMIN_EMAILS or TEMPORAL_UI_ADMIN_GROUPS)',
      );
  }

  @Post('decode')
  @HttpCode(200)
  @ApiOperation({ summary: 'Decode Temporal payloads (codec server protocol; admins only)' })
  @ApiZodBody(payloadsSchema)
  @ApiOkResponse({ schema: openApiSchema(payloadsSchema) })
  async decode(@Body(jsonObjectBodyPipe(payloadsSchema)) body: PayloadsBody, @CurrentPrincipal() caller: Principal) {
    this.requireAdmin(caller);
    const payloads = body.payloads.map(fromJson);
    try {
      return { payloads: (this.codec ? await this.codec.decode(payloads) : payloads).map(toJson) };
    } catch (error) {
      if (error instanceof PayloadCodecError || (error as Error).message?.includes('authenticate'))
        throw ApiError.unprocessable(`payloads: ${(error as Error).message}`, 'payloads');
      throw error;
    }
  }

  @Post('encode')
  @HttpCode(200)
  @ApiOperation({ summary: 'Encode Temporal payloads (codec server protocol; admins only)' })
  @ApiZodBody(payloadsSchema)
  @ApiOkResponse({ schema: openApiSchema(payloadsSchema) })
  async encode(@Body(jsonObjectBodyPipe(payloadsSchema)) body: PayloadsBody, @CurrentPrincipal() caller: Principal) {
    this.requireAdmin(caller);
    const payloads = body.payloads.map(fromJson);
    return { payloads: (this.codec ? await this.codec.encode(payloads) : payloads).map(toJson) };
  }

  @Get('user-pseudonym')
  @ApiOperation({
    summary: 'The CreatedBy search attribute value of a user (a pseudonym when payloads are encrypted; admins only)',
  })
  @ApiZodQuery(pseudonymQuerySchema)
  @ApiOkResponse({
    schema: openApiSchema(z.object({ user: z.string(), created_by_attribute: z.string() })),
  })
  pseudonym(
    @Query(zodPipe(pseudonymQuerySchema)) query: z.infer<typeof pseudonymQuerySchema>,
    @CurrentPrincipal() caller: Principal,
  ) {
    this.requireAdmin(caller);
    return { user: query.user, created_by_attribute: createdByAttribute(this.config, query.user) };
  }
}
