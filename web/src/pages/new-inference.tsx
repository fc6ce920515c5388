import { useRef, useState } from 'preact/hooks';
import { api, ApiError, upload } from '../api';
import { describedBy, ErrorNote, Field, messageFor, PageHeader, Progress, useLoad, useTitle } from '../components/ui';
import { bytes } from '../format';
import { AreaMap } from '../map/area-map';
import { polygonGeometry, type Area } from '../map/draw';
import { Link, navigate } from '../router';
import type { Inference, Model, Page, Processor } from '../types';

type InputMode = 'area' | 'urls' | 'upload';
type DateRow = { kind: 'date' | 'interval'; start: string; end: string };

const POST_PROCESSING = [
  ['cloud_masking', 'Cloud masking'],
  ['snow_ice_masking', 'Snow and ice masking'],
  ['permanent_water_masking', 'Permanent water masking'],
] as const;

/** Which form control an API `field` belongs to (the ids below), and the message to show there. */
function placeError(field: string | undefined, message: string, mode: InputMode): [string, string] | undefined {
  if (!field) return undefined;
  const path = field.replace(/^inference\./, '').split('.');
  const text = messageFor(message, field);
  const index = Number(path[2] ?? path[1]);
  const nth = Number.isInteger(index) ? index + 1 : undefined;
  switch (path[0]) {
    case 'model_id':
    case 'model_display_name':
      return ['model', text];
    case 'spatial_domain':
      if (path[1] === 'urls') return ['urls', nth ? `URL ${nth}: ${text}` : text];
      if (path[1] === 'tiles') return ['tiles', nth ? `Tile ${nth}: ${text}` : text];
      if (path[1] === 'bbox') return ['areas', nth ? `Box ${nth}: ${text}` : text];
      if (path[1] === 'polygons') return ['areas', nth ? `Polygon ${nth}: ${text}` : text];
      return [mode === 'urls' ? 'urls' : 'areas', text];
    case 'temporal_domain':
      return [nth ? `date-${nth - 1}` : 'dates', text];
    case 'files':
      return ['files', text];
    case 'post_processing':
      return ['post-processing', text];
    case 'generic_processor_id':
      return ['processor', text];
    case 'maxcc':
    case 'data_source':
    case 'webhook_url':
    case 'webhook_secret':
    case 'description':
    case 'location':
      return [path[0].replace('_', '-'), text];
    default:
      return undefined;
  }
}

function dateEntry(row: DateRow): string {
  return row.kind === 'interval' ? `${row.start}/${row.end}` : row.start;
}

export function NewInferencePage() {
  useTitle('New inference');
  const models = useLoad((signal) => api.get<Page<Model>>('/api/v2/models', { limit: 1000 }, signal), []);
  const processors = useLoad(
    (signal) => api.get<Page<Processor>>('/api/v2/generic-processor', { limit: 1000 }, signal),
    [],
  );

  const [modelId, setModelId] = useState('');
  const [mode, setMode] = useState<InputMode>('urls');
  const [areas, setAreas] = useState<Area[]>([]);
  const [typedBox, setTypedBox] = useState(['', '', '', '']);
  const [polygonText, setPolygonText] = useState('');
  const [tiles, setTiles] = useState('');
  const [urls, setUrls] = useState('');
  const [files, setFiles] = useState<File[]>([]);
  const [dragging, setDragging] = useState(false);
  const [dates, setDates] = useState<DateRow[]>([]);
  const [maxcc, setMaxcc] = useState('');
  const [dataSource, setDataSource] = useState('');
  const [postProcessing, setPostProcessing] = useState<Record<string, boolean>>({});
  const [processorId, setProcessorId] = useState('');
  const [webhookUrl, setWebhookUrl] = useState('');
  const [webhookSecret, setWebhookSecret] = useState('');
  const [description, setDescription] = useState('');
  const [place, setPlace] = useState('');

  const [errors, setErrors] = useState<Record<string, string>>({});
  const [formError, setFormError] = useState<string>();
  const [busy, setBusy] = useState(false);
  const [progress, setProgress] = useState<{ sent: number; total: number }>();
  const uploadAbort = useRef<AbortController>();

  const readyModels = models.data?.results.filter((model) => model.status === 'READY') ?? [];
  const liveProcessors = processors.data?.results.filter((processor) => processor.status !== 'DELETED') ?? [];
  const error = (id: string) => errors[id];

  const addTypedBox = () => {
    const numbers = typedBox.map((value) => Number(value));
    if (typedBox.some((value) => value.trim() === '') || numbers.some((value) => !Number.isFinite(value))) {
      setErrors({ ...errors, areas: 'Enter west, south, east and north as numbers (WGS 84 degrees).' });
      return;
    }
    setAreas([...areas, { kind: 'bbox', bbox: numbers as [number, number, number, number] }]);
    setTypedBox(['', '', '', '']);
  };

  const addPolygon = () => {
    try {
      const parsed = JSON.parse(polygonText) as { type?: string; coordinates?: number[][][]; geometry?: unknown };
      const geometry = (parsed.type === 'Feature' ? parsed.geometry : parsed) as {
        type?: string;
        coordinates?: number[][][];
      };
      if (geometry?.type !== 'Polygon' || !Array.isArray(geometry.coordinates?.[0]))
        throw new Error('a GeoJSON Polygon (or a Feature with one) is needed');
      const ring = geometry.coordinates[0].map(([lon, lat]) => [lon, lat] as [number, number]);
      const [first, last] = [ring[0], ring[ring.length - 1]];
      if (first && last && first[0] === last[0] && first[1] === last[1]) ring.pop();
      setAreas([...areas, { kind: 'polygon', ring }]);
      setPolygonText('');
    } catch (failure) {
      setErrors({ ...errors, areas: `Pasted polygon: ${(failure as Error).message}` });
    }
  };

  /** The fields both ways of creating share (JSON body, or the bulk upload's `inference` field). */
  const commonFields = () => {
    const body: Record<string, unknown> = { model_id: modelId || undefined };
    body.temporal_domain = dates.map(dateEntry);
    // Cloud cover and data source only mean something for areas searched in a STAC API.
    if (mode === 'area' && maxcc.trim() !== '') body.maxcc = Number(maxcc);
    if (mode === 'area' && dataSource) body.data_source = dataSource;
    const chosen = Object.fromEntries(Object.entries(postProcessing).filter(([, on]) => on));
    if (Object.keys(chosen).length) body.post_processing = chosen;
    if (processorId) body.generic_processor_id = processorId;
    if (webhookUrl.trim()) body.webhook_url = webhookUrl.trim();
    if (webhookSecret.trim()) body.webhook_secret = webhookSecret.trim();
    if (description.trim()) body.description = description.trim();
    if (place.trim()) body.location = place.trim();
    return body;
  };

  const showError = (failure: unknown) => {
    const message = (failure as Error).message;
    const placed = failure instanceof ApiError ? placeError(failure.field, message, mode) : undefined;
    if (placed) {
      setErrors({ [placed[0]]: placed[1] });
      setFormError('The API refused the inference: see the field marked below.');
      requestAnimationFrame(() => document.getElementById(placed[0])?.focus());
    } else {
      setErrors({});
      setFormError(message);
    }
  };

  const submit = async (event: Event) => {
    event.preventDefault();
    setErrors({});
    setFormError(undefined);
    if (!modelId) {
      setErrors({ model: 'Choose a model.' });
      document.getElementById('model')?.focus();
      return;
    }
    setBusy(true);
    try {
      let created: Inference;
      if (mode === 'upload') {
        if (files.length === 0) {
          setErrors({ files: 'Add at least one GeoTIFF file.' });
          document.getElementById('files')?.focus();
          return;
        }
        const form = new FormData();
        form.append('inference', JSON.stringify(commonFields())); // before the files: the API reads it first
        for (const file of files) form.append('files', file, file.name);
        uploadAbort.current = new AbortController();
        setProgress({ sent: 0, total: files.reduce((sum, file) => sum + file.size, 0) });
        created = await upload<Inference>(
          '/api/v2/inference/upload',
          form,
          (sent, total) => setProgress({ sent, total }),
          uploadAbort.current.signal,
        );
      } else {
        const spatial: Record<string, unknown> = {};
        if (mode === 'urls') {
          spatial.urls = urls
            .split('\n')
            .map((line) => line.trim())
            .filter(Boolean);
        } else {
          const boxes = areas.filter((area) => area.kind === 'bbox').map((area) => area.bbox);
          const polygons = areas.filter((area) => area.kind === 'polygon').map((area) => polygonGeometry(area.ring));
          const tileIds = tiles
            .split(/[\s,;]+/)
            .map((tile) => tile.trim())
            .filter(Boolean);
          if (boxes.length) spatial.bbox = boxes;
          if (polygons.length) spatial.polygons = polygons;
          if (tileIds.length) spatial.tiles = tileIds;
        }
        created = await api.post<Inference>('/api/v2/inference', { ...commonFields(), spatial_domain: spatial });
      }
      navigate(`/inferences/${created.id}`);
    } catch (failure) {
      if ((failure as Error).name !== 'AbortError') showError(failure);
    } finally {
      setBusy(false);
      setProgress(undefined);
      uploadAbort.current = undefined;
    }
  };

  const addFiles = (list: FileList | null) => {
    if (!list) return;
    const known = new Set(files.map((file) => `${file.name}:${file.size}`));
    setFiles([...files, ...Array.from(list).filter((file) => !known.has(`${file.name}:${file.size}`))]);
    setErrors({ ...errors, files: '' });
  };

  const totalBytes = files.reduce((sum, file) => sum + file.size, 0);
  const uploadedShare = progress && progress.total ? progress.sent / progress.total : 0;

  return (
    <>
      <PageHeader title="New inference" back={{ href: '/inferences', label: 'Inferences' }} />
      <form class="form" onSubmit={submit} noValidate aria-describedby={formError ? 'form-error' : undefined}>
        {formError ? (
          <div class="note note-error" role="alert" id="form-error">
            {formError}
          </div>
        ) : null}
        <fieldset class="section">
          <legend>Model</legend>
          <Field
            id="model"
            label="Model"
            error={error('model')}
            hint={
              models.data && readyModels.length === 0 ? (
                <>
                  No model is ready yet: <Link href="/models/new">register one</Link>.
                </>
              ) : undefined
            }
          >
            <select
              value={modelId}
              onChange={(event) => setModelId(event.currentTarget.value)}
              {...describedBy('model', error('model'), models.data !== undefined && readyModels.length === 0)}
            >
              <option value="">Choose a model…</option>
              {readyModels.map((model) => (
                <option value={model.id}>{model.display_name}</option>
              ))}
            </select>
          </Field>
          <ErrorNote message={models.error} title="Could not load the models" />
        </fieldset>

        <fieldset class="section">
          <legend>Input</legend>
          <div class="segmented" role="radiogroup" aria-label="Input kind">
            {(
              [
                ['urls', 'GeoTIFF URLs'],
                ['upload', 'Upload GeoTIFFs'],
                ['area', 'Areas (STAC imagery)'],
              ] as const
            ).map(([value, label]) => (
              <label class={mode === value ? 'selected' : ''}>
                <input
                  type="radio"
                  name="input-mode"
                  value={value}
                  checked={mode === value}
                  onChange={() => setMode(value)}
                />
                {label}
              </label>
            ))}
          </div>

          {mode === 'urls' ? (
            <Field
              id="urls"
              label="GeoTIFF URLs"
              hint="One http(s) URL per line; each file becomes one task."
              error={error('urls')}
              wide
            >
              <textarea
                rows={4}
                value={urls}
                placeholder="https://example.com/scene.tif"
                spellcheck={false}
                onInput={(event) => setUrls(event.currentTarget.value)}
                {...describedBy('urls', error('urls'), true)}
              />
            </Field>
          ) : null}

          {mode === 'upload' ? (
            <Field
              id="files"
              label="GeoTIFF files"
              hint="Drop files here or choose them; each file becomes one task. They are streamed to the API."
              error={error('files')}
              wide
            >
              <div
                class={`dropzone${dragging ? ' dropzone-active' : ''}`}
                onDragOver={(event) => {
                  event.preventDefault();
                  setDragging(true);
                }}
                onDragLeave={() => setDragging(false)}
                onDrop={(event) => {
                  event.preventDefault();
                  setDragging(false);
                  addFiles(event.dataTransfer?.files ?? null);
                }}
              >
                <input
                  type="file"
                  multiple
                  accept=".tif,.tiff,image/tiff"
                  onChange={(event) => {
                    addFiles(event.currentTarget.files);
                    event.currentTarget.value = '';
                  }}
                  {...describedBy('files', error('files'), true)}
                />
                {files.length ? (
                  <ul class="file-list" aria-label="Files to upload">
                    {files.map((file, index) => (
                      <li>
                        <span class="mono">{file.name}</span> <span class="muted">{bytes(file.size)}</span>
                        <button
                          type="button"
                          class="link-button"
                          aria-label={`Remove ${file.name}`}
                          onClick={() => setFiles(files.filter((_, i) => i !== index))}
                        >
                          Remove
                        </button>
                      </li>
                    ))}
                  </ul>
                ) : null}
                {files.length ? (
                  <p class="muted" data-files-summary>
                    {files.length} file{files.length === 1 ? '' : 's'}, {bytes(totalBytes)}
                  </p>
                ) : null}
              </div>
            </Field>
          ) : null}

          {mode === 'area' ? (
            <div class="field field-wide" id="areas-field">
              <AreaMap areas={areas} onAdd={(area) => setAreas((current) => [...current, area])} />
              <div class="field-row">
                <fieldset class="inline-fields">
                  <legend>Box by coordinates (WGS 84 degrees)</legend>
                  {['West', 'South', 'East', 'North'].map((name, index) => (
                    <label>
                      {name}
                      <input
                        type="text"
                        inputMode="decimal"
                        size={9}
                        value={typedBox[index]}
                        onInput={(event) => {
                          const next = [...typedBox];
                          next[index] = event.currentTarget.value;
                          setTypedBox(next);
                        }}
                      />
                    </label>
                  ))}
                  <button type="button" class="button" onClick={addTypedBox}>
                    Add box
                  </button>
                </fieldset>
                <div class="inline-fields">
                  <label for="polygon-json">Or paste a GeoJSON polygon</label>
                  <textarea
                    id="polygon-json"
                    rows={2}
                    spellcheck={false}
                    value={polygonText}
                    onInput={(event) => setPolygonText(event.currentTarget.value)}
                  />
                  <button type="button" class="button" disabled={!polygonText.trim()} onClick={addPolygon}>
                    Add polygon
                  </button>
                </div>
              </div>
              <h3 class="subhead" id="areas" tabIndex={-1}>
                Areas ({areas.length})
              </h3>
              {error('areas') ? (
                <div class="field-error" data-field-error="areas">
                  {error('areas')}
                </div>
              ) : null}
              {areas.length ? (
                <ol class="area-list">
                  {areas.map((area, index) => (
                    <li>
                      {area.kind === 'bbox' ? `Box ${area.bbox.join(', ')}` : `Polygon of ${area.ring.length} vertices`}{' '}
                      <button
                        type="button"
                        class="link-button"
                        aria-label={`Remove area ${index + 1}`}
                        onClick={() => setAreas(areas.filter((_, i) => i !== index))}
                      >
                        Remove
                      </button>
                    </li>
                  ))}
                </ol>
              ) : (
                <p class="muted">No area yet.</p>
              )}
              <Field
                id="tiles"
                label="Sentinel-2 MGRS tiles"
                hint="Optional, e.g. 33UXP; separate several with commas."
                error={error('tiles')}
              >
                <input
                  type="text"
                  value={tiles}
                  onInput={(event) => setTiles(event.currentTarget.value)}
                  {...describedBy('tiles', error('tiles'), true)}
                />
              </Field>
              <div class="field-row">
                <Field id="data-source" label="Data source" error={error('data-source')}>
                  <select
                    value={dataSource}
                    onChange={(event) => setDataSource(event.currentTarget.value)}
                    {...describedBy('data-source', error('data-source'))}
                  >
                    <option value="">Sentinel-2 L2A (default)</option>
                    <option value="sentinel-2-l2a">Sentinel-2 L2A</option>
                    <option value="hls">HLS (Harmonized Landsat Sentinel-2)</option>
                  </select>
                </Field>
                <Field id="maxcc" label="Max. cloud cover (%)" hint="0–100, default 100" error={error('maxcc')}>
                  <input
                    type="number"
                    min={0}
                    max={100}
                    step={1}
                    value={maxcc}
                    onInput={(event) => setMaxcc(event.currentTarget.value)}
                    {...describedBy('maxcc', error('maxcc'), true)}
                  />
                </Field>
              </div>
            </div>
          ) : null}
        </fieldset>

        <fieldset class="section">
          <legend>Dates</legend>
          <p class="hint" id="dates-hint">
            Each date (a whole UTC day) or interval gives each area one task; URL and uploaded inputs need none.
          </p>
          {error('dates') ? (
            <div class="field-error" id="dates" tabIndex={-1}>
              {error('dates')}
            </div>
          ) : null}
          {dates.map((row, index) => (
            <div
              class={`date-row${error(`date-${index}`) ? ' field-invalid' : ''}`}
              role="group"
              aria-label={`Date ${index + 1}`}
            >
              <select
                aria-label={`Date ${index + 1} kind`}
                value={row.kind}
                onChange={(event) => {
                  const next = [...dates];
                  next[index] = { ...row, kind: event.currentTarget.value as DateRow['kind'] };
                  setDates(next);
                }}
              >
                <option value="date">Date</option>
                <option value="interval">Interval</option>
              </select>
              <input
                type="date"
                aria-label={row.kind === 'interval' ? `Date ${index + 1} start` : `Date ${index + 1}`}
                value={row.start}
                onInput={(event) => {
                  const next = [...dates];
                  next[index] = { ...row, start: event.currentTarget.value };
                  setDates(next);
                }}
                {...describedBy(`date-${index}`, error(`date-${index}`))}
              />
              {row.kind === 'interval' ? (
                <input
                  type="date"
                  aria-label={`Date ${index + 1} end`}
                  value={row.end}
                  onInput={(event) => {
                    const next = [...dates];
                    next[index] = { ...row, end: event.currentTarget.value };
                    setDates(next);
                  }}
                />
              ) : null}
              <button
                type="button"
                class="link-button"
                aria-label={`Remove date ${index + 1}`}
                onClick={() => setDates(dates.filter((_, i) => i !== index))}
              >
                Remove
              </button>
              {error(`date-${index}`) ? (
                <div class="field-error" id={`date-${index}-error`}>
                  {error(`date-${index}`)}
                </div>
              ) : null}
            </div>
          ))}
          <div class="toolbar">
            <button
              type="button"
              class="button"
              onClick={() =>
                setDates([...dates, { kind: 'date', start: new Date().toISOString().slice(0, 10), end: '' }])
              }
            >
              Add date
            </button>
            <button
              type="button"
              class="button"
              onClick={() => setDates([...dates, { kind: 'interval', start: '', end: '' }])}
            >
              Add interval
            </button>
          </div>
        </fieldset>

        <fieldset class="section">
          <legend>Processing</legend>
          <fieldset
            class="checks"
            id="post-processing"
            tabIndex={-1}
            aria-describedby={error('post-processing') ? 'post-processing-error' : undefined}
          >
            <legend>Post-processing (sets masked pixels to nodata)</legend>
            {POST_PROCESSING.map(([key, label]) => (
              <label class="check">
                <input
                  type="checkbox"
                  checked={postProcessing[key] === true}
                  onChange={(event) => setPostProcessing({ ...postProcessing, [key]: event.currentTarget.checked })}
                />
                {label}
              </label>
            ))}
            {error('post-processing') ? (
              <div class="field-error" id="post-processing-error">
                {error('post-processing')}
              </div>
            ) : null}
          </fieldset>
          <Field
            id="processor"
            label="Generic processor"
            hint={
              <>
                A Python script run on each task's output before publishing (<Link href="/processors">processors</Link>
                ).
              </>
            }
            error={error('processor')}
          >
            <select
              value={processorId}
              onChange={(event) => setProcessorId(event.currentTarget.value)}
              {...describedBy('processor', error('processor'), true)}
            >
              <option value="">None</option>
              {liveProcessors.map((processor) => (
                <option value={processor.id}>{processor.name}</option>
              ))}
            </select>
          </Field>
        </fieldset>

        <fieldset class="section">
          <legend>Details</legend>
          <div class="field-row">
            <Field id="description" label="Description" error={error('description')}>
              <input
                type="text"
                value={description}
                onInput={(event) => setDescription(event.currentTarget.value)}
                {...describedBy('description', error('description'))}
              />
            </Field>
            <Field id="location" label="Location" error={error('location')}>
              <input
                type="text"
                value={place}
                onInput={(event) => setPlace(event.currentTarget.value)}
                {...describedBy('location', error('location'))}
              />
            </Field>
          </div>
          <div class="field-row">
            <Field
              id="webhook-url"
              label="Webhook URL"
              hint="Called when the inference ends."
              error={error('webhook-url')}
            >
              <input
                type="url"
                value={webhookUrl}
                placeholder="https://example.com/hooks/inference"
                onInput={(event) => setWebhookUrl(event.currentTarget.value)}
                {...describedBy('webhook-url', error('webhook-url'), true)}
              />
            </Field>
            <Field
              id="webhook-secret"
              label="Webhook secret"
              hint="Optional whsec_… Standard Webhooks secret."
              error={error('webhook-secret')}
            >
              <input
                type="password"
                autocomplete="off"
                value={webhookSecret}
                onInput={(event) => setWebhookSecret(event.currentTarget.value)}
                {...describedBy('webhook-secret', error('webhook-secret'), true)}
              />
            </Field>
          </div>
        </fieldset>

        {progress ? (
          <div class="upload-progress" data-upload-progress>
            <Progress
              label="Upload"
              value={uploadedShare}
              text={
                uploadedShare >= 1
                  ? 'Uploaded; the API is storing the files…'
                  : `Uploading ${Math.round(uploadedShare * 100)} % (${bytes(progress.sent)} of ${bytes(progress.total)})`
              }
            />
            <button type="button" class="button" onClick={() => uploadAbort.current?.abort()}>
              Cancel upload
            </button>
          </div>
        ) : null}
        <div class="form-actions">
          <button type="submit" class="button button-primary" disabled={busy}>
            {busy ? 'Starting…' : mode === 'upload' ? 'Upload and start' : 'Start inference'}
          </button>
          <Link class="button" href="/inferences">
            Cancel
          </Link>
        </div>
      </form>
    </>
  );
}
