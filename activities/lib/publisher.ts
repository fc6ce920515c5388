import type { GeoserverPushConfig, ModelClassSpec } from '../../src/models/model-spec';

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
  async publish(request: PublishRequest): Promise<PublishResult> {
    return {
      publisher: 'builtin',
      workspace: request.geoserverPush?.workspace ?? 'geo-inference',
      layer_name: layerName(request),
      raster_key: request.rasterKey,
    };
  }
}
