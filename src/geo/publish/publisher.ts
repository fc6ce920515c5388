import type { GeoserverPushConfig, ModelClassSpec } from '../../../workflows/contract/model-spec';
import type { ObjectStore } from '../../platform/storage/object-store';
import { TileRaster } from '../tiles/cog-tiles';
import { openStoredGeoTiff } from '../tiles/open-output';
import type { RampStyle } from './ramp-style';

export interface PublishRequest {
  inferenceId: string;
  taskId: string;
  modelId: string;
  modelDisplayName: string;
  rasterKey: string;
  geoserverPush: GeoserverPushConfig | null;
  /** The model's classes (value, name, colour): the layer's colour map. */
  classes?: ModelClassSpec[];
  /** Output value meaning no data (transparent in the style). */
  outputNodata?: number | null;
  /** A continuous (regression) output: styled with a colour ramp instead of class colours. */
  ramp?: RampStyle;
  /** A true-colour raster (an input preview): shown with the server's default raster style, no class style. */
  trueColour?: boolean;
}

export interface PublishResult {
  publisher: string;
  workspace: string;
  layer_name: string;
  raster_key: string;
  store?: string;
  style?: string;
  /** WMS GetMap URL of the whole layer (GeoServer publisher). */
  wms_url?: string;
  /**
   * Built-in publisher: XYZ tiles of the output (GET /tiles/...; the tokened `tile_url_template` is on
   * GET /api/v2/inference/{id}/tasks). `bounds` [west, south, east, north] in WGS 84 and the zoom range
   * let a viewer fit the map; null with `tiles_problem` when the output cannot be tiled (e.g. its CRS).
   */
  tile_path_template?: string | null;
  bounds?: [number, number, number, number];
  minzoom?: number;
  maxzoom?: number;
  tiles_problem?: string;
}

/** Publishes a task's output raster as a map layer (GeoServer in production, built-in otherwise). */
export interface MapPublisher {
  publish(request: PublishRequest): Promise<PublishResult>;
}

export function layerName(request: PublishRequest): string {
  const template = request.geoserverPush?.layer_name ?? '{model}_{task_id}';
  return template
    .replaceAll('{inference_id}', request.inferenceId)
    .replaceAll('{task_id}', request.taskId)
    .replaceAll('{model}', request.modelDisplayName)
    .replace(/[^A-Za-z0-9_.-]/g, '_');
}

/**
 * Built-in publisher: the output stays in object storage and is served by the API; this records the layer
 * the task publishes so the REST API can show it. GeoServerPublisher (geoserver-publisher.ts) is used when
 * GEOSERVER_URL is set.
 */
export class BuiltInPublisher implements MapPublisher {
  /** With a store, the result also describes the output's map tiles (read from the COG's headers only). */
  constructor(private readonly store?: ObjectStore) {}

  async publish(request: PublishRequest): Promise<PublishResult> {
    const result: PublishResult = {
      publisher: 'builtin',
      workspace: request.geoserverPush?.workspace ?? 'geo-inference',
      layer_name: layerName(request),
      raster_key: request.rasterKey,
    };
    if (!this.store) return result;
    const tiff = await openStoredGeoTiff(this.store, request.rasterKey);
    try {
      const { bounds, minzoom, maxzoom } = (await TileRaster.open(request.rasterKey, tiff)).info;
      return {
        ...result,
        tile_path_template: `/tiles/${encodeURIComponent(request.taskId)}/{z}/{x}/{y}.png`,
        bounds,
        minzoom,
        maxzoom,
      };
    } catch (error) {
      // Not tileable (unsupported CRS, no georeferencing): publishing still succeeds, the reason is recorded.
      return { ...result, tile_path_template: null, tiles_problem: (error as Error).message };
    } finally {
      await tiff.close();
    }
  }
}
