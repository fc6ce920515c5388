/**
 * STAC of an inference's results: one Collection per inference, one Item per finished task (STAC 1.1 with
 * the projection, raster, classification, processing and mlm extensions). Assets and links are relative
 * (a static, self-contained catalog next to the outputs in object storage); the API rewrites them into
 * signed URLs and API links when it serves them.
 */
import {
  maskNodata,
  taskTypeOf,
  type ModelClassSpec,
  type ModelInputDataSpec,
} from '../../../workflows/contract/model-spec';
import { lonLatTransform } from '../crs/epsg';

export const STAC_VERSION = '1.1.0';
export const STAC_EXTENSIONS = {
  projection: 'https://stac-extensions.github.io/projection/v2.0.0/schema.json',
  raster: 'https://stac-extensions.github.io/raster/v1.1.0/schema.json',
  classification: 'https://stac-extensions.github.io/classification/v2.0.0/schema.json',
  processing: 'https://stac-extensions.github.io/processing/v1.2.0/schema.json',
  mlm: 'https://stac-extensions.github.io/mlm/v1.4.0/schema.json',
} as const;

export const COG_MEDIA_TYPE = 'image/tiff; application=geotiff; profile=cloud-optimized';
export const GEOTIFF_MEDIA_TYPE = 'image/tiff; application=geotiff';
export const GEOJSON_MEDIA_TYPE = 'application/geo+json';
export const FLATGEOBUF_MEDIA_TYPE = 'application/vnd.flatgeobuf';

/** Where an output came from and how it was made; on the Item and in the task's step results. */
export interface Provenance {
  model: {
    id: string;
    name: string;
    file_name: string;
    file_sha256: string;
    file_size: number;
    /** Trained parameters (elements of the ONNX initializers); absent in Items written before it. */
    total_parameters?: number;
    /** The model's spec when the task ran (bands, scaling, normalization, tiling, classes). */
    input_spec: ModelInputDataSpec;
  };
  /** The scenes the input was built from (STAC items), or the uploaded file / URL. */
  sources: ProvenanceSource[];
  /** The grid the model ran on (the output keeps it). */
  chip_grid: { crs: string | null; transform: number[]; width: number; height: number };
  post_processing: Record<string, boolean>;
  processor: { id: string; name: string; file_name: string; file_sha256: string; parameters: unknown } | null;
  /** geo-inference name and version that wrote the outputs. */
  code_version: string;
  /** sha256 of the output file the Item's `prediction` asset is. */
  output_sha256: string;
}

export type ProvenanceSource =
  | {
      kind: 'stac';
      data_source: string;
      collection: string | null;
      item_id: string;
      datetime: string | null;
      cloud_cover: number | null;
    }
  | { kind: 'url'; url: string }
  | { kind: 'object'; file_name: string; key: string };

/** An output grid: what footprint, bbox and the projection fields are computed from. */
export interface OutputGrid {
  epsg: number | null;
  /** GDAL affine [a, b, c, d, e, f]. */
  transform: number[];
  width: number;
  height: number;
}

export interface StacAssetRef {
  /** Relative href from the Item's own key (e.g. `model-output.tif`, `../coco.json`). */
  href: string;
  type: string;
  roles: string[];
  title: string;
  extra?: Record<string, unknown>;
}

export interface TaskItemInput {
  taskId: string;
  inferenceId: string;
  grid: OutputGrid;
  /** One instant, or the range of the input scenes (start/end when they differ). */
  time: { datetime: string } | { start: string; end: string };
  classes: ModelClassSpec[];
  outputNodata: number;
  outputDataType: string;
  provenance: Provenance;
  /** The prediction COG: role data. */
  prediction: StacAssetRef;
  /** raster:bands of a continuous (regression) prediction, in place of the class mask's single band. */
  predictionBands?: Array<Record<string, unknown>>;
  others: Record<string, StacAssetRef>;
  /** When the outputs were written (the Item's `created` / `updated`, processing:datetime). */
  writtenAt: string;
}

/** The grid's outline in WGS 84 (each edge sampled at 16 points, so curved edges of a reprojected grid fit). */
export function footprint(grid: OutputGrid): { geometry: GeoJSON.Polygon; bbox: [number, number, number, number] } {
  const [a, b, c, d, e, f] = grid.transform as [number, number, number, number, number, number];
  const toLonLat = lonLatTransform(grid.epsg, 'described in WGS 84');
  const steps = 16;
  const corners: Array<[number, number]> = [
    [0, 0],
    [grid.width, 0],
    [grid.width, grid.height],
    [0, grid.height],
  ];
  const ring: Array<[number, number]> = [];
  for (let side = 0; side < 4; side++) {
    const [c0, r0] = corners[side]!;
    const [c1, r1] = corners[(side + 1) % 4]!;
    for (let step = 0; step < steps; step++) {
      const col = c0 + ((c1 - c0) * step) / steps;
      const row = r0 + ((r1 - r0) * step) / steps;
      const xy: [number, number] = [a * col + b * row + c, d * col + e * row + f];
      const [lon, lat] = toLonLat.identity ? xy : toLonLat.inverse(xy);
      ring.push([round(lon), round(lat)]);
    }
  }
  ring.push(ring[0]!);
  // RFC 7946: exterior counter-clockwise.
  let twice = 0;
  for (let i = 0; i + 1 < ring.length; i++) twice += ring[i]![0] * ring[i + 1]![1] - ring[i + 1]![0] * ring[i]![1];
  if (twice < 0) ring.reverse();
  const lons = ring.map((p) => p[0]);
  const lats = ring.map((p) => p[1]);
  return {
    geometry: { type: 'Polygon', coordinates: [ring] },
    bbox: [Math.min(...lons), Math.min(...lats), Math.max(...lons), Math.max(...lats)],
  };
}

const round = (value: number) => Math.round(value * 1e9) / 1e9;

/** classification:classes of the model's classes (colour hints without '#'). */
export function classificationClasses(classes: ModelClassSpec[], nodata: number) {
  return [
    ...classes.map((spec) => ({
      value: spec.value,
      name: spec.name.replace(/[^A-Za-z0-9_-]+/g, '_'),
      title: spec.name,
      ...(spec.color && /^#[0-9a-fA-F]{6}$/.test(spec.color) ? { color_hint: spec.color.slice(1).toUpperCase() } : {}),
      ...(spec.background ? { description: 'background (left out of vectors and COCO)' } : {}),
    })),
    ...(classes.some((spec) => spec.value === nodata) ? [] : [{ value: nodata, name: 'nodata', nodata: true }]),
  ];
}

/** The mlm: fields of the model (inputs as the spec says, one output: a class mask or the regression values). */
function mlmProperties(provenance: Provenance, grid: OutputGrid, outputChannels?: number) {
  const spec = provenance.model.input_spec;
  const bands = spec.bands.map((band) => band.name);
  const output = mlmOutput(spec, grid, outputChannels);
  return {
    'mlm:name': provenance.model.name,
    'mlm:architecture': 'ONNX graph',
    'mlm:tasks': output.tasks,
    'mlm:framework': 'ONNX',
    ...(provenance.model.total_parameters !== undefined
      ? { 'mlm:total_parameters': provenance.model.total_parameters }
      : {}),
    'mlm:pretrained': true,
    'mlm:accelerator_constrained': false,
    'mlm:input': [
      {
        name: 'input',
        bands,
        input: {
          shape: [-1, bands.length, spec.tile_size, spec.tile_size],
          dim_order: ['batch', 'bands', 'height', 'width'],
          data_type: 'float32',
        },
        ...(spec.normalization
          ? {
              value_scaling: spec.normalization.mean.map((mean, index) => ({
                type: 'z-score',
                mean,
                stddev: spec.normalization!.std[index],
              })),
            }
          : {}),
        resize_type: null,
        pre_processing_function: null,
      },
    ],
    'mlm:output': [output],
  };
}

/** mlm:output of the model's task type: regression values (float32, one channel per output band) or classes. */
function mlmOutput(spec: Provenance['model']['input_spec'], grid: OutputGrid, outputChannels?: number) {
  if (taskTypeOf(spec) === 'regression') {
    const channels = outputChannels ?? spec.output_bands?.length ?? 1;
    return {
      name: 'values',
      tasks: ['regression'],
      result: {
        shape: [-1, channels, grid.height, grid.width],
        dim_order: ['batch', 'channel', 'height', 'width'],
        data_type: 'float32',
      },
      ...(spec.output_bands
        ? { description: spec.output_bands.join(', ') + (spec.units ? ` (${spec.units})` : '') }
        : {}),
      post_processing_function: null,
    };
  }
  return {
    name: 'classes',
    tasks: ['semantic-segmentation'],
    result: {
      shape: [-1, 1, grid.height, grid.width],
      dim_order: ['batch', 'channel', 'height', 'width'],
      data_type: 'uint8',
    },
    'classification:classes': classificationClasses(spec.classes, maskNodata(spec)),
    post_processing_function: null,
  };
}

/** The Item of a finished task, with relative links to its collection (static catalog form). */
export function taskItem(input: TaskItemInput) {
  const { geometry, bbox } = footprint(input.grid);
  const [a, b, c, d, e, f] = input.grid.transform as [number, number, number, number, number, number];
  const time =
    'datetime' in input.time
      ? { datetime: input.time.datetime }
      : { datetime: null, start_datetime: input.time.start, end_datetime: input.time.end };
  const classes = classificationClasses(input.classes, input.outputNodata);
  const pixelSize = Math.sqrt(Math.abs(a * e - b * d));
  const prediction = {
    href: input.prediction.href,
    type: input.prediction.type,
    title: input.prediction.title,
    roles: input.prediction.roles,
    'raster:bands': input.predictionBands ?? [
      {
        data_type: input.outputDataType,
        nodata: input.outputNodata,
        spatial_resolution: pixelSize,
        sampling: 'area',
      },
    ],
    // Class masks only: a processor's continuous output has no classes.
    ...(input.outputDataType === 'uint8' ? { 'classification:classes': classes } : {}),
    ...input.prediction.extra,
  };
  const assets: Record<string, unknown> = { prediction };
  for (const [key, asset] of Object.entries(input.others))
    assets[key] = { href: asset.href, type: asset.type, title: asset.title, roles: asset.roles, ...asset.extra };
  return {
    type: 'Feature',
    stac_version: STAC_VERSION,
    stac_extensions: Object.values(STAC_EXTENSIONS),
    id: input.taskId,
    collection: input.inferenceId,
    geometry,
    bbox,
    properties: {
      ...time,
      created: input.writtenAt,
      updated: input.writtenAt,
      title: `Task ${input.taskId} of inference ${input.inferenceId}`,
      'proj:code': input.grid.epsg === null ? null : `EPSG:${input.grid.epsg}`,
      'proj:shape': [input.grid.height, input.grid.width],
      'proj:transform': [a, b, c, d, e, f, 0, 0, 1],
      'proj:bbox': projectedBbox(input.grid),
      'processing:level': 'L4',
      'processing:facility': 'geo-inference',
      'processing:software': {
        [input.provenance.code_version.split(' ')[0]!]: input.provenance.code_version.split(' ')[1] ?? '',
      },
      'processing:datetime': input.writtenAt,
      'processing:lineage': lineage(input.provenance),
      ...mlmProperties(input.provenance, input.grid, input.predictionBands?.length),
      'geo_inference:provenance': input.provenance,
    },
    links: [
      { rel: 'root', href: '../collection.json', type: 'application/json' },
      { rel: 'parent', href: '../collection.json', type: 'application/json' },
      { rel: 'collection', href: '../collection.json', type: 'application/json' },
    ],
    assets,
  };
}

export type StacItem = ReturnType<typeof taskItem>;

function projectedBbox(grid: OutputGrid): number[] {
  const [a, b, c, d, e, f] = grid.transform as [number, number, number, number, number, number];
  const xs = [c, a * grid.width + c, b * grid.height + c, a * grid.width + b * grid.height + c];
  const ys = [f, d * grid.width + f, e * grid.height + f, d * grid.width + e * grid.height + f];
  return [Math.min(...xs), Math.min(...ys), Math.max(...xs), Math.max(...ys)];
}

function lineage(provenance: Provenance): string {
  const sources = provenance.sources
    .map((source) =>
      source.kind === 'stac'
        ? `STAC item ${source.item_id}${source.collection ? ` of ${source.collection}` : ''}${source.datetime ? ` (${source.datetime})` : ''}`
        : source.kind === 'url'
          ? `GeoTIFF at ${source.url}`
          : `uploaded GeoTIFF ${source.file_name}`,
    )
    .join('; ');
  const steps = [`model ${provenance.model.name} (sha256 ${provenance.model.file_sha256})`];
  const options = Object.entries(provenance.post_processing)
    .filter(([, on]) => on)
    .map(([key]) => key);
  if (options.length > 0) steps.push(`post-processing ${options.join(', ')}`);
  if (provenance.processor)
    steps.push(`processor ${provenance.processor.name} (sha256 ${provenance.processor.file_sha256})`);
  return `${sources} -> ${steps.join(' -> ')}`;
}

export interface CollectionInput {
  inferenceId: string;
  description: string;
  items: StacItem[];
  classes: ModelClassSpec[];
  outputNodata: number;
  /** Links to inference-wide assets (e.g. COCO), relative to the collection. */
  assets: Record<string, StacAssetRef>;
}

/** The inference's Collection: extent from its Items, item links relative (static catalog form). */
export function inferenceCollection(input: CollectionInput) {
  const boxes = input.items.map((item) => item.bbox);
  const spatial =
    boxes.length > 0
      ? [
          Math.min(...boxes.map((box) => box[0])),
          Math.min(...boxes.map((box) => box[1])),
          Math.max(...boxes.map((box) => box[2])),
          Math.max(...boxes.map((box) => box[3])),
        ]
      : [-180, -90, 180, 90];
  const instants = input.items
    .flatMap((item) => {
      const props = item.properties as Record<string, unknown>;
      return [props.datetime, props.start_datetime, props.end_datetime];
    })
    .filter((value): value is string => typeof value === 'string')
    .sort();
  const assets: Record<string, unknown> = {};
  for (const [key, asset] of Object.entries(input.assets))
    assets[key] = { href: asset.href, type: asset.type, title: asset.title, roles: asset.roles, ...asset.extra };
  return {
    type: 'Collection',
    stac_version: STAC_VERSION,
    stac_extensions: [STAC_EXTENSIONS.classification],
    id: input.inferenceId,
    title: `Inference ${input.inferenceId}`,
    description: input.description,
    license: 'other',
    extent: {
      spatial: { bbox: [spatial] },
      temporal: { interval: [[instants[0] ?? null, instants[instants.length - 1] ?? null]] },
    },
    summaries: { 'classification:classes': classificationClasses(input.classes, input.outputNodata) },
    links: [
      { rel: 'root', href: './collection.json', type: 'application/json' },
      ...input.items.map((item) => ({ rel: 'item', href: `./${item.id}/item.json`, type: 'application/geo+json' })),
    ],
    assets,
  };
}

export type StacCollection = ReturnType<typeof inferenceCollection>;
