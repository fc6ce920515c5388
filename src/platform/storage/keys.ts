/** Object-storage layout; one place so API (output URLs, deletes) and activities agree. */
export const storageKeys = {
  inferencePrefix: (inferenceId: string) => `inferences/${inferenceId}/`,
  uploadedInput: (inferenceId: string, index: number, fileName: string) =>
    `inferences/${inferenceId}/uploads/${String(index + 1).padStart(5, '0')}-${fileName}`,
  taskInput: (inferenceId: string, taskId: string) => `inferences/${inferenceId}/${taskId}/input.tif`,
  /** The scene classification band (SCL / Fmask) of a STAC chip, on the chip's grid; read by post-processing. */
  taskClassification: (inferenceId: string, taskId: string) => `inferences/${inferenceId}/${taskId}/classification.tif`,
  /** What the data-fetch step chose for a STAC chip (item, collection, classification scheme, grid). */
  taskChipMetadata: (inferenceId: string, taskId: string) => `inferences/${inferenceId}/${taskId}/chip.json`,
  modelOutput: (inferenceId: string, taskId: string) => `inferences/${inferenceId}/${taskId}/model-output.tif`,
  /** Per-class softmax probabilities of a segmentation model that writes them (spec `probabilities`). */
  modelProbabilities: (inferenceId: string, taskId: string) => `inferences/${inferenceId}/${taskId}/probabilities.tif`,
  processorOutput: (inferenceId: string, taskId: string) => `inferences/${inferenceId}/${taskId}/processed.tif`,
  /** As in the REST contract: `processor_file_path` is `{id}/{file name}`. */
  processorFile: (processorId: string, fileName: string) => `${processorId}/${fileName}`,
  cocoExport: (inferenceId: string) => `inferences/${inferenceId}/coco.json`,
  /** The static STAC catalog: the inference's Collection, each finished task's Item beside its outputs. */
  stacCollection: (inferenceId: string) => `inferences/${inferenceId}/collection.json`,
  stacItem: (inferenceId: string, taskId: string) => `inferences/${inferenceId}/${taskId}/item.json`,
  /** Vector predictions: GeoJSON in WGS 84, FlatGeobuf in the output's CRS. */
  taskVectors: (inferenceId: string, taskId: string, format: 'geojson' | 'fgb') =>
    `inferences/${inferenceId}/${taskId}/vectors.${format}`,
  /** The prediction as a small colour PNG (the Item's thumbnail). */
  taskThumbnail: (inferenceId: string, taskId: string) => `inferences/${inferenceId}/${taskId}/thumbnail.png`,
  /** The input as a stretched RGB COG, to view beside the prediction. */
  taskInputPreview: (inferenceId: string, taskId: string) => `inferences/${inferenceId}/${taskId}/input-preview.tif`,
  /** Step logs of versions before the step_logs table (still read). */
  legacyStepLog: (inferenceId: string, taskId: string, stepId: string) =>
    `inferences/${inferenceId}/${taskId}/logs/${stepId}.log`,
  modelFile: (modelId: string, fileName: string) => `models/${modelId}/${fileName}`,
  /** The golden pair given at registration: an input GeoTIFF and the output the model must reproduce. */
  modelGoldenInput: (modelId: string) => `models/${modelId}/golden/input.tif`,
  modelGoldenOutput: (modelId: string) => `models/${modelId}/golden/expected-output.tif`,
};
