import * as fs from 'node:fs';
import type { ModelInputDataSpec } from '../workflows/contract/model-spec';

/**
 * Metadata for the demo model: the ukis-csmask Sentinel-2 L2A 6-band cloud / cloud-shadow U-Net
 * (PyPI `ukis-csmask`, Apache-2.0), installed by scripts/provision.sh. Normalization statistics come
 * from the JSON file shipped next to the .onnx file.
 */
export function demoModelMetadata(metaPath: string, displayName = 'ukis-csmask-s2-l2a-6band') {
  const meta = JSON.parse(fs.readFileSync(metaPath, 'utf8')) as {
    data: { dataset_statistics: { img: [number[], number[]]; band_names: string[] }; target_size: [number, number] };
    model: { version: string };
  };
  const spec: ModelInputDataSpec = {
    bands: meta.data.dataset_statistics.band_names.map((name, index) => ({ name, source_index: index + 1 })),
    // Sentinel-2 L2A digital numbers are reflectance x 10000.
    scaling: { scale: 0.0001, offset: 0 },
    normalization: { mean: meta.data.dataset_statistics.img[0], std: meta.data.dataset_statistics.img[1] },
    tile_size: meta.data.target_size[0],
    tile_overlap: 32,
    nodata: 0,
    classes: [
      { value: 0, name: 'clear', color: '#3a7d44', background: true }, // not an object: no COCO annotations
      { value: 1, name: 'cloud', color: '#f0f0f0' },
      { value: 2, name: 'cloud_shadow', color: '#4b4b6b' },
    ],
    output_nodata: 255,
  };
  return {
    display_name: displayName,
    description: `ukis-csmask ${meta.model.version}: cloud and cloud-shadow segmentation for Sentinel-2 L2A (blue, green, red, nir, swir16, swir22)`,
    model_input_data_spec: spec,
    geoserver_push: { workspace: 'geo_inference', layer_name: '{model}_{task_id}', style: 'csmask' },
  };
}
