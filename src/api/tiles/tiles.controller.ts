import { ApiOperation, ApiProduces, ApiQuery, ApiResponse, ApiTags } from '@nestjs/swagger';
import { legendPng, type Legend } from '../../geo/tiles/legend';
import { Controller, Get, Param, Query, Res } from '@nestjs/common';
import type { Response } from 'express';
import { ApiError } from '../http/api-error';
import { UnsupportedCrsError } from '../../geo/tiles/crs';
import { TOKEN_PROBLEMS } from '../../geo/tiles/tile-token';
import { TILE_LAYERS, TileBandError, TileNotFoundError, TilesService, type TileLayer } from './tiles.service';
import { invalidTile } from '../../geo/tiles/web-mercator';
import { Public } from '../auth/public.decorator';
import { ApiRawResponse } from '../openapi/response-schemas';

/** Whole non-negative numbers only: `Number('')`, `Number('1e3')` and `Number(' 7')` would all pass otherwise. */
function coordinate(text: string): number {
  return /^\d{1,9}$/.test(text) ? Number(text) : Number.NaN;
}

/** `band` (1-based, default 1): a whole positive number, else 400 naming `band`. */
function bandParameter(value: unknown): number {
  if (value === undefined) return 1;
  if (typeof value !== 'string' || !/^\d{1,4}$/.test(value) || Number(value) < 1)
    throw ApiError.badRequest(`band: must be a band number from 1 (got ${JSON.stringify(value)})`, 'band');
  return Number(value);
}

const BAND_QUERY = {
  name: 'band',
  required: false,
  schema: { type: 'integer' as const, minimum: 1, default: 1 },
  description: 'the band of the prediction (1-based; multi-band regression outputs), 400 when out of range',
};

/**
 * GET /tiles/{task_id}/{z}/{x}/{y}.png?token=...: XYZ Web Mercator tiles of a task's output, for map
 * clients that cannot send an API key; the token (from the task's tile_url_template) is the credential.
 */
@ApiTags('map tiles')
@Public('tile-token')
@Controller('tiles')
export class TilesController {
  constructor(private readonly tiles: TilesService) {}

  @ApiOperation({
    summary:
      "Legend of a task's prediction layer: class swatches (segmentation) or a colorbar (regression), as JSON or PNG; the tile token is the credential",
  })
  @ApiQuery({ name: 'token', required: true, schema: { type: 'string' } })
  @ApiQuery(BAND_QUERY)
  @ApiProduces('application/json', 'image/png')
  @ApiResponse({
    status: 200,
    description: 'the legend: JSON (entries or colorbar stops with labels) or a PNG without text',
    content: {
      'application/json': {
        schema: {
          type: 'object',
          required: ['type'],
          properties: {
            type: { type: 'string', enum: ['classes', 'colorbar'] },
            classes: {
              type: 'array',
              description: 'segmentation: one swatch per class',
              items: {
                type: 'object',
                properties: {
                  value: { type: 'integer' },
                  name: { type: 'string' },
                  color: { type: 'string' },
                  background: { type: 'boolean' },
                },
              },
            },
            colormap: { type: 'string', description: 'regression: the colormap name' },
            min: { type: 'number' },
            max: { type: 'number' },
            units: { type: 'string', nullable: true },
            stops: {
              type: 'array',
              description: 'regression: five evenly spaced colorbar stops, low to high',
              items: { type: 'object', properties: { value: { type: 'number' }, color: { type: 'string' } } },
            },
            nodata: { oneOf: [{ type: 'number' }, { type: 'string', enum: ['NaN'] }] },
          },
        },
      },
      'image/png': { schema: { type: 'string', format: 'binary' } },
    },
  })
  @Get(':taskId/legend.:format')
  async legend(
    @Param('taskId') taskId: string,
    @Param('format') format: string,
    @Query('token') token: unknown,
    @Query('band') bandText: unknown,
    @Res() response: Response,
  ): Promise<void> {
    if (format !== 'json' && format !== 'png') throw ApiError.notFound(`no legend format ${format} (json or png)`);
    const band = bandParameter(bandText);
    const check = await this.tiles.checkToken(taskId, token);
    if (!check.valid) throw new ApiError(403, TOKEN_PROBLEMS[check.reason], 'token');
    let legend: Legend;
    try {
      legend = await this.tiles.legend(taskId, band);
    } catch (error) {
      if (error instanceof TileNotFoundError) throw ApiError.notFound(error.message);
      if (error instanceof TileBandError) throw ApiError.badRequest(error.message, 'band');
      throw error;
    }
    response.status(200);
    response.setHeader('Access-Control-Allow-Origin', '*');
    response.setHeader('Cache-Control', 'private, max-age=60');
    if (format === 'json') {
      response.setHeader('Content-Type', 'application/json');
      response.end(JSON.stringify(legend));
    } else {
      response.setHeader('Content-Type', 'image/png');
      response.end(legendPng(legend));
    }
  }

  @ApiOperation({
    summary:
      "XYZ Web Mercator PNG tile of a task's output; the token from the task's tile_url_template is the credential (no API key)",
  })
  @ApiQuery({ name: 'token', required: true, schema: { type: 'string' } })
  @ApiRawResponse(200, 'image/png', { binary: true, description: 'the 256 x 256 tile' })
  @ApiQuery({
    name: 'layer',
    required: false,
    enum: [...TILE_LAYERS],
    description: 'prediction (default) or input-preview (true-colour input, from the results export)',
  })
  @ApiQuery(BAND_QUERY)
  @Get(':taskId/:z/:x/:y.png')
  async tile(
    @Param('taskId') taskId: string,
    @Param('z') zText: string,
    @Param('x') xText: string,
    @Param('y') yText: string,
    @Query('token') token: unknown,
    @Query('layer') layerText: unknown,
    @Query('band') bandText: unknown,
    @Res() response: Response,
  ): Promise<void> {
    const layer = (layerText ?? 'prediction') as TileLayer;
    if (!(TILE_LAYERS as readonly unknown[]).includes(layer))
      throw ApiError.badRequest(`layer: must be one of ${TILE_LAYERS.join(', ')}`, 'layer');
    const band = bandParameter(bandText);
    const check = await this.tiles.checkToken(taskId, token);
    if (!check.valid) throw new ApiError(403, TOKEN_PROBLEMS[check.reason], 'token');
    const [z, x, y] = [coordinate(zText), coordinate(xText), coordinate(yText)];
    const problem = invalidTile(z, x, y);
    if (problem)
      throw ApiError.badRequest(
        `invalid tile ${zText}/${xText}/${yText}: ${problem}`,
        Number.isNaN(z) || problem.startsWith('zoom') ? 'z' : problem.startsWith('x') ? 'x' : 'y',
      );

    let rendered: { png: Buffer; level: number };
    try {
      rendered = await this.tiles.tile(taskId, z, x, y, layer, band);
    } catch (error) {
      if (error instanceof TileNotFoundError) throw ApiError.notFound(error.message);
      if (error instanceof TileBandError) throw ApiError.badRequest(error.message, 'band');
      if (error instanceof UnsupportedCrsError) throw ApiError.unprocessable(`task ${taskId}: ${error.message}`);
      throw error;
    }
    const remaining = Math.max(0, check.expires - Math.floor(Date.now() / 1000));
    response.status(200);
    response.setHeader('Content-Type', 'image/png');
    response.setHeader('Cache-Control', `private, max-age=${Math.min(3600, remaining)}`);
    // Which image was read: 0 = full resolution, n = n-th overview, -1 = none (tile outside the raster).
    response.setHeader('X-Tile-Source-Level', String(rendered.level));
    response.setHeader('Access-Control-Allow-Origin', '*');
    response.end(rendered.png);
  }
}
