import { useState } from 'preact/hooks';
import { api, ApiError, upload } from '../api';
import {
  describedBy,
  ErrorNote,
  Field,
  Json,
  messageFor,
  PageHeader,
  Pager,
  Progress,
  StatusBadge,
  useLoad,
  useTitle,
} from '../components/ui';
import { bytes, when } from '../format';
import { legendOf } from '../legend';
import { Link, navigate, setQuery, useLocation } from '../router';
import type { Model, Page } from '../types';

const LIMIT = 25;

export function ModelsPage() {
  useTitle('Models');
  const { query } = useLocation();
  const offset = Math.max(0, Number(query.get('offset') ?? 0) || 0);
  const list = useLoad((signal) => api.get<Page<Model>>('/api/v2/models', { limit: LIMIT, offset }, signal), [offset]);
  return (
    <>
      <PageHeader title="Models">
        <Link class="button button-primary" href="/models/new">
          Register a model
        </Link>
      </PageHeader>
      <ErrorNote message={list.error} title="Could not list the models" />
      {list.data && list.data.results.length === 0 ? (
        <p class="empty">
          No model yet. <Link href="/models/new">Register one</Link>.
        </p>
      ) : null}
      {list.data?.results.length ? (
        <div class="table-wrap">
          <table class="table table-cards" aria-label="Models">
            <thead>
              <tr>
                <th scope="col">Name</th>
                <th scope="col">Status</th>
                <th scope="col">Bands</th>
                <th scope="col">Classes</th>
                <th scope="col">Registered</th>
              </tr>
            </thead>
            <tbody>
              {list.data.results.map((model) => (
                <tr>
                  <td data-label="Name">
                    <Link href={`/models/${model.id}`}>{model.display_name}</Link>
                    {model.description ? <div class="muted clamp">{model.description}</div> : null}
                  </td>
                  <td data-label="Status">
                    <StatusBadge status={model.status} />
                  </td>
                  <td data-label="Bands">{model.model_input_data_spec.bands.map((band) => band.name).join(', ')}</td>
                  <td data-label="Classes">
                    <ClassSwatches model={model} />
                  </td>
                  <td data-label="Registered">{when(model.created_at)}</td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      ) : null}
      {list.data ? (
        <Pager
          offset={offset}
          limit={LIMIT}
          total={list.data.total_records}
          onPage={(next) => setQuery({ offset: next || undefined })}
        />
      ) : null}
    </>
  );
}

function ClassSwatches({ model }: { model: Model }) {
  return (
    <ul class="legend legend-inline">
      {legendOf(model.model_input_data_spec).map((entry) => (
        <li>
          <span class="swatch" style={{ background: entry.color }} aria-hidden="true" />
          {entry.name}
        </li>
      ))}
    </ul>
  );
}

export function ModelPage({ id }: { id: string }) {
  const model = useLoad((signal) => api.get<Model>(`/api/v2/models/${id}`, undefined, signal), [id]);
  useTitle(model.data?.display_name ?? 'Model');
  const data = model.data;
  const spec = data?.model_input_data_spec;
  return (
    <>
      <PageHeader title={data?.display_name ?? 'Model'} back={{ href: '/models', label: 'Models' }}>
        {data ? <StatusBadge status={data.status} /> : null}
        {data?.status === 'READY' ? (
          <Link class="button button-primary" href="/inferences/new">
            New inference
          </Link>
        ) : null}
        {data ? (
          <Link class="button" href={`/inferences?model_id=${data.id}`}>
            Its inferences
          </Link>
        ) : null}
      </PageHeader>
      <ErrorNote message={model.error} title="Could not load the model" />
      {data && spec ? (
        <div class="grid-2">
          <section class="card" aria-labelledby="model-about">
            <h2 id="model-about">About</h2>
            {data.description ? <p>{data.description}</p> : null}
            {data.status_message ? <p class="error-text">{data.status_message}</p> : null}
            <dl class="facts facts-1">
              <div>
                <dt>Id</dt>
                <dd class="mono">{data.id}</dd>
              </div>
              <div>
                <dt>File</dt>
                <dd>
                  <span class="mono">{data.model_file_path}</span> ({bytes(data.model_file_size)})
                </dd>
              </div>
              <div>
                <dt>SHA-256</dt>
                <dd class="mono break">{data.model_file_sha256}</dd>
              </div>
              <div>
                <dt>Tiles</dt>
                <dd>
                  {spec.tile_size} px, overlap {spec.tile_overlap} px
                  {spec.resolution ? `, ${spec.resolution} m chips` : ''}
                </dd>
              </div>
              <div>
                <dt>Input nodata</dt>
                <dd>{spec.nodata ?? '—'}</dd>
              </div>
              <div>
                <dt>Output nodata</dt>
                <dd>{spec.output_nodata ?? 255}</dd>
              </div>
              <div>
                <dt>Registered</dt>
                <dd>
                  {when(data.created_at)} by {data.created_by}
                </dd>
              </div>
            </dl>
          </section>
          <section class="card" aria-labelledby="model-classes">
            <h2 id="model-classes">Classes</h2>
            <ul class="legend">
              {legendOf(spec).map((entry) => (
                <li>
                  <span class="swatch" style={{ background: entry.color }} aria-hidden="true" />
                  {entry.name} <span class="muted">(value {entry.value})</span>
                  {entry.background ? <span class="muted"> · background</span> : null}
                </li>
              ))}
            </ul>
            <h2>Bands</h2>
            <table class="table table-compact">
              <thead>
                <tr>
                  <th scope="col">Channel</th>
                  <th scope="col">Band</th>
                  <th scope="col">Source band</th>
                  {spec.normalization ? <th scope="col">Mean / std</th> : null}
                </tr>
              </thead>
              <tbody>
                {spec.bands.map((band, index) => (
                  <tr>
                    <td>{index}</td>
                    <td>{band.name}</td>
                    <td>{band.source_index ?? index + 1}</td>
                    {spec.normalization ? (
                      <td class="mono">
                        {spec.normalization.mean[index]?.toPrecision(4)} /{' '}
                        {spec.normalization.std[index]?.toPrecision(4)}
                      </td>
                    ) : null}
                  </tr>
                ))}
              </tbody>
            </table>
            {spec.scaling ? (
              <p class="muted">
                Scaling: reflectance = (dn + {spec.scaling.offset}) × {spec.scaling.scale}
              </p>
            ) : null}
          </section>
          {data.onnx_signature ? (
            <section class="card" aria-labelledby="model-onnx">
              <h2 id="model-onnx">ONNX signature</h2>
              <ul>
                {[
                  ...data.onnx_signature.inputs.map((io) => ['input', io] as const),
                  ...data.onnx_signature.outputs.map((io) => ['output', io] as const),
                ].map(([kind, io]) => (
                  <li>
                    {kind} <span class="mono">{io.name}</span> {io.type ?? ''} [{io.dims.join(' × ')}]
                  </li>
                ))}
              </ul>
            </section>
          ) : null}
          {data.geoserver_push ? (
            <section class="card" aria-labelledby="model-geoserver">
              <h2 id="model-geoserver">GeoServer publishing</h2>
              <Json value={data.geoserver_push} label="GeoServer settings" />
            </section>
          ) : null}
        </div>
      ) : null}
    </>
  );
}

const SPEC_TEMPLATE = JSON.stringify(
  {
    bands: [{ name: 'blue' }, { name: 'green' }, { name: 'red' }, { name: 'nir' }],
    scaling: { scale: 0.0001, offset: 0 },
    tile_size: 256,
    tile_overlap: 32,
    nodata: 0,
    classes: [
      { value: 0, name: 'background', color: '#3a7d44', background: true },
      { value: 1, name: 'object', color: '#e41a1c' },
    ],
  },
  null,
  2,
);

/** Where a field error of POST /api/v2/models goes. */
function modelErrorTarget(field: string | undefined): string | undefined {
  if (!field) return undefined;
  if (field === 'model_file') return 'model-file';
  if (field.startsWith('model.model_input_data_spec')) return 'model-spec';
  if (field.startsWith('model.geoserver_push')) return 'model-geoserver';
  if (field === 'model.description') return 'model-description';
  if (field === 'model.display_name' || field === 'model') return 'model-name';
  return undefined;
}

export function RegisterModelPage() {
  useTitle('Register a model');
  const [name, setName] = useState('');
  const [description, setDescription] = useState('');
  const [file, setFile] = useState<File>();
  const [spec, setSpec] = useState(SPEC_TEMPLATE);
  const [geoserver, setGeoserver] = useState('');
  const [errors, setErrors] = useState<Record<string, string>>({});
  const [formError, setFormError] = useState<string>();
  const [progress, setProgress] = useState<number>();

  const fail = (target: string, message: string) => {
    setErrors({ [target]: message });
    requestAnimationFrame(() => document.getElementById(target)?.focus());
  };

  const submit = async (event: Event) => {
    event.preventDefault();
    setErrors({});
    setFormError(undefined);
    if (!file) return fail('model-file', 'Choose the .onnx file.');
    const metadata: Record<string, unknown> = { display_name: name.trim() };
    if (description.trim()) metadata.description = description.trim();
    try {
      metadata.model_input_data_spec = JSON.parse(spec);
    } catch (failure) {
      return fail('model-spec', `Not valid JSON: ${(failure as Error).message}`);
    }
    if (geoserver.trim()) {
      try {
        metadata.geoserver_push = JSON.parse(geoserver);
      } catch (failure) {
        return fail('model-geoserver', `Not valid JSON: ${(failure as Error).message}`);
      }
    }
    const form = new FormData();
    form.append('model', JSON.stringify(metadata));
    form.append('model_file', file, file.name);
    setProgress(0);
    try {
      const created = await upload<Model>('/api/v2/models', form, (sent, total) =>
        setProgress(total ? sent / total : 0),
      );
      navigate(`/models/${created.id}`);
    } catch (failure) {
      const target = failure instanceof ApiError ? modelErrorTarget(failure.field) : undefined;
      const message = (failure as Error).message;
      if (target && failure instanceof ApiError) {
        const shown = messageFor(message, failure.field);
        fail(target, target === 'model-spec' ? `${failure.field!.replace(/^model\./, '')}: ${shown}` : shown);
      } else setFormError(message);
    } finally {
      setProgress(undefined);
    }
  };

  return (
    <>
      <PageHeader title="Register a model" back={{ href: '/models', label: 'Models' }} />
      <form class="form" onSubmit={submit} noValidate>
        <ErrorNote message={formError} />
        <fieldset class="section">
          <legend>Model</legend>
          <div class="field-row">
            <Field
              id="model-name"
              label="Display name"
              hint="Letters, digits, space, _ . -"
              error={errors['model-name']}
            >
              <input
                type="text"
                value={name}
                onInput={(event) => setName(event.currentTarget.value)}
                {...describedBy('model-name', errors['model-name'], true)}
              />
            </Field>
            <Field id="model-file" label="ONNX file" error={errors['model-file']}>
              <input
                type="file"
                accept=".onnx"
                onChange={(event) => setFile(event.currentTarget.files?.[0])}
                {...describedBy('model-file', errors['model-file'])}
              />
            </Field>
          </div>
          <Field id="model-description" label="Description" error={errors['model-description']} wide>
            <input
              type="text"
              value={description}
              onInput={(event) => setDescription(event.currentTarget.value)}
              {...describedBy('model-description', errors['model-description'])}
            />
          </Field>
          <Field
            id="model-spec"
            label="Input data spec (JSON)"
            hint="bands in model channel order, scaling, normalization, tile_size, tile_overlap, nodata, classes (value, name, color, background), output_nodata, resolution"
            error={errors['model-spec']}
            wide
          >
            <textarea
              rows={14}
              class="mono"
              spellcheck={false}
              value={spec}
              onInput={(event) => setSpec(event.currentTarget.value)}
              {...describedBy('model-spec', errors['model-spec'], true)}
            />
          </Field>
          <Field
            id="model-geoserver"
            label="GeoServer publishing (JSON, optional)"
            hint='e.g. {"workspace": "geo_inference"}'
            error={errors['model-geoserver']}
            wide
          >
            <textarea
              rows={3}
              class="mono"
              spellcheck={false}
              value={geoserver}
              onInput={(event) => setGeoserver(event.currentTarget.value)}
              {...describedBy('model-geoserver', errors['model-geoserver'], true)}
            />
          </Field>
        </fieldset>
        {progress !== undefined ? (
          <Progress
            label="Upload"
            value={progress}
            text={
              progress >= 1
                ? 'Uploaded; onnxruntime is loading the model…'
                : `Uploading ${Math.round(progress * 100)} %`
            }
          />
        ) : null}
        <div class="form-actions">
          <button type="submit" class="button button-primary" disabled={progress !== undefined}>
            Register
          </button>
          <Link class="button" href="/models">
            Cancel
          </Link>
        </div>
      </form>
    </>
  );
}
