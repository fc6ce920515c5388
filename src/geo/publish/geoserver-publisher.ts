/**
 * Publishes task outputs to a GeoServer through its REST API (docs.geoserver.org, REST API > Coverage stores,
 * Styles, Layers). The calls are chosen so that publishing twice is harmless:
 * - workspace: POST /rest/workspaces -> 201, or 409 when it exists (fine);
 * - raster: PUT /rest/workspaces/{ws}/coveragestores/{store}/file.geotiff with the GeoTIFF bytes creates the
 *   store, coverage and layer, or replaces the file (201 / 200). POST .../coveragestores would answer 500
 *   "Store 'x' already exists" on the second run, so it is not used;
 * - style: POST /rest/workspaces/{ws}/styles?name=s (SLD body) -> 201, or 403 when it exists -> PUT to update;
 * - default style: PUT /rest/layers/{ws}:{layer} -> 200.
 * Errors carry the status and GeoServer's text body; 401 is not retryable (wrong credentials), an unreachable
 * server and 5xx are retryable.
 */
import { StepFailure } from '../../../workflows/contract/errors';
import { colorMapSld } from './sld';
import { rampStyleSld } from './ramp-style';
import type { ModelClassSpec } from '../../../workflows/contract/model-spec';
import type { ObjectStore } from '../../platform/storage/object-store';
import { layerName, type MapPublisher, type PublishRequest, type PublishResult } from './publisher';
import { affineOf, boundsOf, epsgOf } from '../raster/georeference';
import { readGeoTiffHeader } from '../raster/decode';

export interface GeoServerConnection {
  /** Base URL including the context path, e.g. http://geoserver:8080/geoserver */
  url: string;
  user: string;
  password: string;
  /** Per-request timeout. */
  timeoutMs?: number;
}

/** Names must be safe in URL paths and GeoServer identifiers. */
const NAME = /^[A-Za-z0-9_.-]{1,200}$/;

/** A colour per class when the model gives none (ColorBrewer Set1, then grey). */
const FALLBACK_COLORS = [
  '#e41a1c',
  '#377eb8',
  '#4daf4a',
  '#984ea3',
  '#ff7f00',
  '#ffff33',
  '#a65628',
  '#f781bf',
  '#999999',
];

/**
 * SLD 1.0 raster style: ColorMap type="values" maps each class value to its colour; output nodata is
 * transparent (GeoServer also honours the GeoTIFF nodata, this keeps it explicit).
 */
export function classStyleSld(styleName: string, classes: ModelClassSpec[], nodata: number | null): string {
  if (classes.length === 0) throw new Error('the model has no classes to build a colour map from');
  const entries = [...classes]
    .sort((a, b) => a.value - b.value)
    .map((entry, index) => ({
      '@_color': normaliseColor(entry.color) ?? FALLBACK_COLORS[index % FALLBACK_COLORS.length]!,
      '@_quantity': String(entry.value),
      '@_label': entry.name,
      '@_opacity': '1',
    }));
  if (nodata !== null && !classes.some((entry) => entry.value === nodata)) {
    entries.push({ '@_color': '#000000', '@_quantity': String(nodata), '@_label': 'nodata', '@_opacity': '0' });
  }
  return colorMapSld(styleName, `${styleName} classes`, 'values', entries);
}

function normaliseColor(color: string | undefined): string | undefined {
  if (!color) return undefined;
  if (/^#[0-9a-fA-F]{6}$/.test(color)) return color.toLowerCase();
  if (/^#[0-9a-fA-F]{3}$/.test(color)) return `#${[...color.slice(1)].map((c) => c + c).join('')}`.toLowerCase();
  throw new Error(`class colour ${JSON.stringify(color)} is not #rrggbb`);
}

/** What one publish call needs besides the request: the raster bytes and their grid. */
interface RasterInfo {
  bytes: Buffer;
  epsg: number | null;
  bounds: [number, number, number, number] | null;
  width: number;
  height: number;
}

export class GeoServerPublisher implements MapPublisher {
  private readonly base: string;
  private readonly authorization: string;
  private readonly timeoutMs: number;

  constructor(
    private readonly connection: GeoServerConnection,
    private readonly store: ObjectStore,
  ) {
    this.base = connection.url.replace(/\/+$/, '');
    this.authorization = `Basic ${Buffer.from(`${connection.user}:${connection.password}`).toString('base64')}`;
    this.timeoutMs = connection.timeoutMs ?? 60_000;
  }

  async publish(request: PublishRequest): Promise<PublishResult> {
    const push = request.geoserverPush;
    const workspace = push?.workspace ?? 'geo_inference';
    const layer = layerName(request);
    const store = push?.store ? layerName({ ...request, geoserverPush: { ...push, layer_name: push.store } }) : layer;
    const style = push?.style ?? `${request.modelDisplayName.replace(/[^A-Za-z0-9_.-]/g, '_')}_classes`;
    for (const [what, value] of [
      ['workspace', workspace],
      ['store', store],
      ['layer', layer],
      ['style', style],
    ] as const) {
      if (!NAME.test(value))
        throw StepFailure.nonRetryable(
          `GeoServer ${what} name ${JSON.stringify(value)} may only contain letters, digits, _ . -`,
          'ModelConfigurationError',
        );
    }
    const raster = await this.rasterInfo(request.rasterKey);
    const ws = encodeURIComponent(workspace);

    // 1. Workspace (409 = exists already).
    await this.call('POST', '/rest/workspaces', {
      body: JSON.stringify({ workspace: { name: workspace } }),
      contentType: 'application/json',
      accept: [201, 409],
    });
    // 2. Raster: creates store + coverage + layer, or replaces the file of an existing store.
    await this.call(
      'PUT',
      `/rest/workspaces/${ws}/coveragestores/${encodeURIComponent(store)}/file.geotiff?coverageName=${encodeURIComponent(layer)}`,
      {
        body: raster.bytes,
        contentType: 'image/tiff',
        accept: [200, 201],
      },
    );
    // A true-colour layer keeps GeoServer's default raster style (RGB(A) bands as they are).
    if (!request.trueColour) {
      // 3. Style from the model's classes: create, or update when it exists (403).
      const sld = request.ramp
        ? rampStyleSld(style, request.ramp)
        : classStyleSld(style, request.classes ?? [], request.outputNodata ?? null);
      const created = await this.call('POST', `/rest/workspaces/${ws}/styles?name=${encodeURIComponent(style)}`, {
        body: sld,
        contentType: 'application/vnd.ogc.sld+xml',
        accept: [201, 403],
      });
      if (created === 403) {
        await this.call('PUT', `/rest/workspaces/${ws}/styles/${encodeURIComponent(style)}`, {
          body: sld,
          contentType: 'application/vnd.ogc.sld+xml',
          accept: [200],
        });
      }
      // 4. Default style of the layer.
      await this.call('PUT', `/rest/layers/${ws}:${encodeURIComponent(layer)}`, {
        body: JSON.stringify({ layer: { defaultStyle: { name: style, workspace } } }),
        contentType: 'application/json',
        accept: [200],
      });
    }

    return {
      publisher: 'geoserver',
      workspace,
      layer_name: layer,
      store,
      ...(request.trueColour ? {} : { style }),
      raster_key: request.rasterKey,
      wms_url: this.wmsGetMapUrl(workspace, layer, request.trueColour ? '' : style, raster),
    };
  }

  /** A GetMap request for the whole layer (bbox, CRS and a size of at most 1024 px on the long side). */
  private wmsGetMapUrl(workspace: string, layer: string, style: string, raster: RasterInfo): string {
    const scale = Math.min(1, 1024 / Math.max(raster.width, raster.height));
    const params = new URLSearchParams({
      service: 'WMS',
      version: '1.1.1',
      request: 'GetMap',
      layers: `${workspace}:${layer}`,
      styles: style,
      format: 'image/png',
      transparent: 'true',
      width: String(Math.max(1, Math.round(raster.width * scale))),
      height: String(Math.max(1, Math.round(raster.height * scale))),
    });
    if (raster.epsg !== null) params.set('srs', `EPSG:${raster.epsg}`);
    if (raster.bounds) params.set('bbox', raster.bounds.join(','));
    return `${this.base}/${encodeURIComponent(workspace)}/wms?${params.toString()}`;
  }

  private async rasterInfo(key: string): Promise<RasterInfo> {
    const bytes = await this.store.getObject(key);
    const header = await readGeoTiffHeader(bytes);
    const affine = affineOf(header.georef);
    return {
      bytes,
      epsg: epsgOf(header.georef),
      bounds: affine ? boundsOf(affine, header.width, header.height) : null,
      width: header.width,
      height: header.height,
    };
  }

  /** One REST call; returns the status when it is one of `accept`, otherwise throws a readable failure. */
  private async call(
    method: string,
    path: string,
    options: { body: string | Buffer; contentType: string; accept: number[] },
  ): Promise<number> {
    const url = `${this.base}${path}`;
    let response: Response;
    try {
      response = await fetch(url, {
        method,
        headers: { Authorization: this.authorization, 'Content-Type': options.contentType, Accept: 'application/json' },
        body: options.body,
        redirect: 'manual',
        signal: AbortSignal.timeout(this.timeoutMs),
      });
    } catch (error) {
      const cause = (error as { cause?: { code?: string; message?: string } }).cause;
      const reason = cause?.code ?? cause?.message ?? (error as Error).message;
      throw StepFailure.retryable(
        `GeoServer at ${this.base} is unreachable (${method} ${url}: ${reason})`,
        'GeoServerUnreachable',
      );
    }
    const text = (await response.text()).trim();
    if (options.accept.includes(response.status)) return response.status;
    if (response.status === 401) {
      throw StepFailure.nonRetryable(
        `wrong GeoServer credentials: ${this.base} answered 401 Unauthorized to user ${JSON.stringify(this.connection.user)} (check GEOSERVER_USER / GEOSERVER_PASSWORD)`,
        'GeoServerCredentialsError',
      );
    }
    const message = `GeoServer ${method} ${path} answered ${response.status} ${response.statusText}${text ? `: ${text.slice(0, 500)}` : ''}`;
    // 5xx and 429 may pass; other client errors will not change on retry.
    if (response.status >= 500 || response.status === 429) throw StepFailure.retryable(message, 'GeoServerError');
    throw StepFailure.nonRetryable(message, 'GeoServerRequestError');
  }
}
