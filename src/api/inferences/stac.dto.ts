import type { ApiQueryOptions } from '@nestjs/swagger';
import type { SchemaObject } from '@nestjs/swagger/dist/interfaces/open-api-spec.interface';
import { VECTOR_FORMATS } from './inference-stac.service';

/** `?format=` of the vectors endpoints. */
export const vectorsQuery: ApiQueryOptions = {
  name: 'format',
  required: false,
  enum: [...VECTOR_FORMATS],
  description: 'geojson (RFC 7946, WGS 84; default) or fgb (FlatGeobuf in the output CRS)',
};

const link: SchemaObject = {
  type: 'object',
  required: ['rel', 'href'],
  properties: { rel: { type: 'string' }, href: { type: 'string' }, type: { type: 'string' } },
};

const asset: SchemaObject = {
  type: 'object',
  required: ['href'],
  properties: {
    href: { type: 'string', description: 'signed URL, valid 8 hours' },
    type: { type: 'string' },
    title: { type: 'string' },
    roles: { type: 'array', items: { type: 'string' } },
  },
  additionalProperties: true,
};

const classes: SchemaObject = {
  type: 'array',
  items: {
    type: 'object',
    required: ['value', 'name'],
    properties: {
      value: { type: 'integer' },
      name: { type: 'string' },
      title: { type: 'string' },
      color_hint: { type: 'string', example: '1F78B4' },
      nodata: { type: 'boolean' },
    },
  },
};

/** GET /api/v2/inference/{id}/stac. */
export const stacCollectionResponse: SchemaObject = {
  type: 'object',
  required: ['type', 'stac_version', 'id', 'description', 'license', 'extent', 'links'],
  properties: {
    type: { type: 'string', enum: ['Collection'] },
    stac_version: { type: 'string', example: '1.1.0' },
    stac_extensions: { type: 'array', items: { type: 'string' } },
    id: { type: 'string', format: 'uuid', description: 'the inference id' },
    title: { type: 'string' },
    description: { type: 'string' },
    license: { type: 'string' },
    extent: {
      type: 'object',
      properties: {
        spatial: {
          type: 'object',
          properties: { bbox: { type: 'array', items: { type: 'array', items: { type: 'number' } } } },
        },
        temporal: {
          type: 'object',
          properties: {
            interval: { type: 'array', items: { type: 'array', items: { type: 'string', nullable: true } } },
          },
        },
      },
    },
    summaries: { type: 'object', properties: { 'classification:classes': classes } },
    links: { type: 'array', items: link, description: 'self, root and one `item` link per finished task' },
    assets: { type: 'object', additionalProperties: asset },
  },
};

/** GET /api/v2/inference/{id}/stac/items/{task_id}. */
export const stacItemResponse: SchemaObject = {
  type: 'object',
  required: ['type', 'stac_version', 'id', 'geometry', 'bbox', 'properties', 'links', 'assets'],
  properties: {
    type: { type: 'string', enum: ['Feature'] },
    stac_version: { type: 'string', example: '1.1.0' },
    stac_extensions: { type: 'array', items: { type: 'string' } },
    id: { type: 'string', description: 'the task id' },
    collection: { type: 'string', format: 'uuid' },
    geometry: { type: 'object', description: "GeoJSON Polygon in WGS 84: the output grid's footprint" },
    bbox: { type: 'array', items: { type: 'number' }, minItems: 4, maxItems: 4 },
    properties: {
      type: 'object',
      additionalProperties: true,
      properties: {
        datetime: { type: 'string', nullable: true },
        start_datetime: { type: 'string' },
        end_datetime: { type: 'string' },
        'proj:code': { type: 'string', nullable: true, example: 'EPSG:32633' },
        'proj:shape': { type: 'array', items: { type: 'integer' } },
        'proj:transform': { type: 'array', items: { type: 'number' } },
        'mlm:name': { type: 'string' },
        'processing:lineage': { type: 'string' },
        'geo_inference:provenance': {
          type: 'object',
          description:
            'model (id, file sha256, input spec), source scenes, chip grid, post-processing, processor (id, sha256), code version, output sha256',
        },
      },
    },
    links: { type: 'array', items: link },
    assets: {
      type: 'object',
      description:
        'prediction (role data), model-output, input, input-preview, vectors, vectors-fgb, coco, thumbnail, model',
      additionalProperties: asset,
    },
  },
};
