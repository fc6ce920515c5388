import { ApiOperation, ApiQuery, ApiTags } from '@nestjs/swagger';
import { Controller, Get, Header, Param, Query } from '@nestjs/common';
import { ApiError } from '../http/api-error';
import { TOKEN_PROBLEMS } from '../../geo/tiles/tile-token';
import { TileNotFoundError, TilesService } from './tiles.service';
import { Public } from '../auth/public.decorator';
import { ApiRawResponse } from '../openapi/response-schemas';

/** JSON for an inline <script>: no "</script>" or HTML comment can end the element early. */
function scriptJson(value: unknown): string {
  return JSON.stringify(value).replace(/</g, '\\u003c').replace(/>/g, '\\u003e').replace(/&/g, '\\u0026');
}

/**
 * GET /map/{task_id}?token=...: a one-page Leaflet viewer of a task's tiles over OpenStreetMap, for a quick
 * look in a browser. Same token as the tiles; Leaflet is served by the API itself (/vendor/leaflet, no CDN).
 */
@ApiTags('map tiles')
@Public('tile-token')
@Controller('map')
export class MapPageController {
  constructor(private readonly tiles: TilesService) {}

  @ApiOperation({ summary: "One-page Leaflet viewer of a task's tiles over OpenStreetMap (token as for /tiles)" })
  @ApiQuery({ name: 'token', required: true, schema: { type: 'string' } })
  @ApiRawResponse(200, 'text/html', { description: 'the map page' })
  @Get(':taskId')
  @Header('Content-Type', 'text/html; charset=utf-8')
  async page(@Param('taskId') taskId: string, @Query('token') token: unknown): Promise<string> {
    const check = await this.tiles.checkToken(taskId, token);
    if (!check.valid) throw new ApiError(403, TOKEN_PROBLEMS[check.reason], 'token');
    let info;
    try {
      info = await this.tiles.tileSet(taskId);
    } catch (error) {
      if (error instanceof TileNotFoundError) throw ApiError.notFound(error.message);
      throw error;
    }
    const template = `../tiles/${encodeURIComponent(taskId)}/{z}/{x}/{y}.png?token=${token as string}`;
    const [west, south, east, north] = info.bounds;
    return `<!doctype html>
<html><head><meta charset="utf-8"><title>${taskId.replace(/[^A-Za-z0-9_-]/g, '')}</title>
<meta name="viewport" content="width=device-width, initial-scale=1">
<link rel="stylesheet" href="../vendor/leaflet/leaflet.css">
<script src="../vendor/leaflet/leaflet.js"></script>
<style>html, body, #map { height: 100%; margin: 0; }</style></head>
<body><div id="map"></div><script>
const map = L.map('map');
L.tileLayer('https://tile.openstreetmap.org/{z}/{x}/{y}.png', { maxZoom: 19, attribution: '&copy; OpenStreetMap contributors' }).addTo(map);
L.tileLayer(${scriptJson(template)}, { maxZoom: 22, maxNativeZoom: ${scriptJson(info.maxzoom)}, opacity: 0.75 }).addTo(map);
map.fitBounds([[${scriptJson(south)}, ${scriptJson(west)}], [${scriptJson(north)}, ${scriptJson(east)}]]);
</script></body></html>`;
  }
}
