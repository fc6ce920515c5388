import { Body, Controller, Delete, Get, HttpCode, Param, ParseUUIDPipe, Post, Query } from '@nestjs/common';
import { ApiCreatedResponse, ApiNoContentResponse, ApiOkResponse, ApiOperation, ApiTags } from '@nestjs/swagger';
import { ApiError } from '../http/api-error';
import { jsonObjectBodyPipe, zodPipe } from '../http/zod-validation';
import { ApiZodBody, ApiZodQuery, openApiSchema } from '../openapi/zod-openapi';
import {
  apiKeyListSchema,
  createApiKeySchema,
  createdApiKeySchema,
  listApiKeysQuerySchema,
  principalViewSchema,
  type CreateApiKeyRequest,
  type ListApiKeysQuery,
} from './api-keys.dto';
import { ApiKeysService } from './api-keys.service';
import { CurrentPrincipal } from './current-user.decorator';
import type { Principal } from './principal';

const uuidPipe = new ParseUUIDPipe({ exceptionFactory: () => ApiError.badRequest('id: must be a UUID', 'id') });

@ApiTags('api keys')
@Controller('api/v2/api-keys')
export class ApiKeysController {
  constructor(private readonly keys: ApiKeysService) {}

  @Post()
  @HttpCode(201)
  @ApiOperation({
    summary: 'Add an API key for a user (admin keys only); the key is in this answer only, the server keeps its hash',
  })
  @ApiZodBody(createApiKeySchema)
  @ApiCreatedResponse({ schema: openApiSchema(createdApiKeySchema) })
  create(
    @Body(jsonObjectBodyPipe(createApiKeySchema)) body: CreateApiKeyRequest,
    @CurrentPrincipal() caller: Principal,
  ) {
    return this.keys.create(body, caller);
  }

  @Get()
  @ApiOperation({ summary: "API keys added at run time: the caller's own, or (admin keys) everyone's" })
  @ApiZodQuery(listApiKeysQuerySchema)
  @ApiOkResponse({ schema: openApiSchema(apiKeyListSchema) })
  list(@Query(zodPipe(listApiKeysQuerySchema)) query: ListApiKeysQuery, @CurrentPrincipal() caller: Principal) {
    return this.keys.list(query, caller);
  }

  @Get('current')
  @ApiOperation({ summary: 'Who the presented key authenticates as, and its rate limit' })
  @ApiOkResponse({ schema: openApiSchema(principalViewSchema) })
  current(@CurrentPrincipal() caller: Principal) {
    return this.keys.whoAmI(caller);
  }

  @Delete(':id')
  @HttpCode(204)
  @ApiOperation({ summary: 'Revoke an API key (own keys, or any with an admin key): refused from the next request on' })
  @ApiNoContentResponse({ description: 'revoked (or already revoked)' })
  async revoke(@Param('id', uuidPipe) id: string, @CurrentPrincipal() caller: Principal): Promise<void> {
    await this.keys.revoke(id, caller);
  }
}
