/**
 * Request and response examples of the REST contract (GEOStudio Core inference guide, seed 000), shown
 * in the OpenAPI document. Ids and timestamps are the guide's.
 */
const inferenceId = '904d1e13-ddd2-415f-a963-120d16a240f0';
const modelId = 'a1b2c3d4-e5f6-7890-abcd-ef1234567890';

export const createInferenceExamples = {
  basic: {
    summary: 'Basic inference (bbox)',
    value: {
      model_display_name: 'flood-detection-model',
      description: 'Flood detection for Vienna region',
      location: 'Vienna, Austria',
      spatial_domain: { bbox: [[16.2, 48.1, 16.5, 48.3]] },
      temporal_domain: ['2024-06-15'],
      maxcc: 80,
    },
  },
  post_processing: {
    summary: 'With post-processing flags',
    value: {
      model_display_name: 'flood-detection-model',
      description: 'Flood detection for Vienna region',
      location: 'Vienna, Austria',
      spatial_domain: { bbox: [[16.2, 48.1, 16.5, 48.3]] },
      temporal_domain: ['2024-06-15', '2024-06-16'],
      maxcc: 80,
      post_processing: { cloud_masking: true, permanent_water_masking: true },
    },
  },
  urls_with_generic_processor: {
    summary: 'GeoTIFF URLs and a generic processor',
    value: {
      model_display_name: 'flood-detection-model',
      description: 'Flood detection with custom cloud masking',
      location: 'Vienna, Austria',
      spatial_domain: { urls: ['https://example.com/satellite-image.tif'] },
      temporal_domain: ['2024-06-15'],
      generic_processor_id: 'b1c40d04-1d36-43ed-b733-5dc18aa45689',
    },
  },
};

export const inferenceCreatedExample = {
  id: inferenceId,
  model_display_name: 'flood-detection-model',
  model_id: modelId,
  description: 'Flood detection for Vienna region',
  location: 'Vienna, Austria',
  spatial_domain: { bbox: [[16.2, 48.1, 16.5, 48.3]] },
  temporal_domain: ['2024-06-15'],
  status: 'PENDING',
  tasks_count_total: 1,
  tasks_count_success: 0,
  tasks_count_failed: 0,
  tasks_count_stopped: 0,
  tasks_count_waiting: 1,
  temporal_ui_url: `http://localhost:8233/namespaces/default/workflows/${inferenceId}`,
  created_at: '2026-01-21T10:30:00Z',
  updated_at: '2026-01-21T10:30:00Z',
  created_by: 'user@example.com',
};

export const inferenceStatusExample = {
  id: inferenceId,
  status: 'RUNNING',
  tasks_count_total: 4,
  tasks_count_success: 2,
  tasks_count_failed: 0,
  tasks_count_stopped: 0,
  tasks_count_waiting: 2,
  updated_at: '2026-01-21T10:35:00Z',
};

export const inferenceListExample = { results: [inferenceCreatedExample], total_records: 1 };

export const inferenceTasksExample = {
  inference_id: inferenceId,
  status: 'RUNNING',
  tasks: [
    {
      task_id: `${inferenceId}-task-000`,
      status: 'RUNNING',
      pipeline_steps: [
        { status: 'FINISHED', process_id: 'terrakit-data-fetch', step_number: 0 },
        {
          status: 'RUNNING',
          process_id: 'model-inference',
          step_number: 1,
          progress: { done: 120, total: 400, unit: 'tiles', eta_seconds: 42 },
        },
        { status: 'WAITING', process_id: 'generic-python-processor', step_number: 2 },
        { status: 'WAITING', process_id: 'push-to-geoserver', step_number: 3 },
      ],
    },
  ],
  total_records: 1,
};

export const outputUrlExample = {
  task_id: `${inferenceId}-task-000`,
  status: 'FINISHED',
  output_key: `inferences/${inferenceId}/tasks/${inferenceId}-task-000/output.tif`,
  url: 'https://storage.example.com/geo-inference/inferences/.../output.tif?X-Amz-Signature=...',
  expires_at: '2026-01-21T18:30:00.000Z',
};

export const modelMetadataExample = {
  display_name: 'csmask',
  description: 'Sentinel-2 L2A cloud / cloud-shadow U-Net',
  model_input_data_spec: {
    bands: [
      { name: 'blue' },
      { name: 'green' },
      { name: 'red' },
      { name: 'nir' },
      { name: 'swir16' },
      { name: 'swir22' },
    ],
    scaling: { scale: 0.0001, offset: 0 },
    tile_size: 256,
    tile_overlap: 32,
    nodata: 0,
    classes: [
      { value: 0, name: 'clear' },
      { value: 1, name: 'cloud' },
      { value: 2, name: 'cloud_shadow' },
    ],
  },
  geoserver_push: { workspace: 'geo_inference' },
};

export const genericProcessorMetadataExample = {
  name: 'cloud_masking',
  description: 'Custom cloud masking processor',
  processor_parameters: { threshold: 80, method: 'scl_based' },
};

export const genericProcessorExample = {
  id: 'b1c40d04-1d36-43ed-b733-5dc18aa45689',
  ...genericProcessorMetadataExample,
  processor_file_path: 'b1c40d04-1d36-43ed-b733-5dc18aa45689/cloud_masking.py',
  status: 'FINISHED',
  created_at: '2026-01-21T10:30:00Z',
  updated_at: '2026-01-21T10:30:00Z',
  created_by: 'user@example.com',
};
