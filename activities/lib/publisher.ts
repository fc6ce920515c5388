import type { GeoserverPushConfig } from '../../src/models/model-spec';

export interface PublishRequest {
  inferenceId: string;
  taskId: string;
  modelId: string;
  modelDisplayName: string;
  rasterKey: string;
  geoserverPush: GeoserverPushConfig | null;
}

export interface PublishResult {
  publisher: string;
  workspace: string;
  layer_name: string;
  raster_key: string;
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
 * the task publishes so the REST API can show it. A GeoServer REST publisher implements the same interface.
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
