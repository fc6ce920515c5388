import { useState } from 'preact/hooks';
import { api, ApiError, upload } from '../api';
import {
  ConfirmButton,
  describedBy,
  ErrorNote,
  Field,
  Json,
  messageFor,
  PageHeader,
  Pager,
  StatusBadge,
  useLoad,
  useTitle,
} from '../components/ui';
import { when } from '../format';
import { Link, navigate, setQuery, useLocation } from '../router';
import type { Page, Processor } from '../types';

const LIMIT = 25;

export function ProcessorsPage() {
  useTitle('Generic processors');
  const { query } = useLocation();
  const offset = Math.max(0, Number(query.get('offset') ?? 0) || 0);
  const list = useLoad(
    (signal) => api.get<Page<Processor>>('/api/v2/generic-processor', { limit: LIMIT, offset }, signal),
    [offset],
  );
  return (
    <>
      <PageHeader title="Generic processors">
        <Link class="button button-primary" href="/processors/new">
          Upload a processor
        </Link>
      </PageHeader>
      <p class="lead">
        Python scripts run on each task's model output before it is published, as{' '}
        <code>python script.py input_path output_path parameters_json</code>, sandboxed, with numpy, rasterio and scipy.
      </p>
      <ErrorNote message={list.error} title="Could not list the processors" />
      {list.data && list.data.results.length === 0 ? (
        <p class="empty">
          No processor yet. <Link href="/processors/new">Upload one</Link>.
        </p>
      ) : null}
      {list.data?.results.length ? (
        <div class="table-wrap">
          <table class="table table-cards" aria-label="Generic processors">
            <thead>
              <tr>
                <th scope="col">Name</th>
                <th scope="col">Script</th>
                <th scope="col">Status</th>
                <th scope="col">Uploaded</th>
              </tr>
            </thead>
            <tbody>
              {list.data.results.map((processor) => (
                <tr>
                  <td data-label="Name">
                    <Link href={`/processors/${processor.id}`}>{processor.name}</Link>
                    {processor.description ? <div class="muted clamp">{processor.description}</div> : null}
                  </td>
                  <td data-label="Script" class="mono">
                    {processor.processor_file_path.split('/').pop()}
                  </td>
                  <td data-label="Status">
                    <StatusBadge status={processor.status} />
                  </td>
                  <td data-label="Uploaded">{when(processor.created_at)}</td>
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

export function ProcessorPage({ id }: { id: string }) {
  const processor = useLoad((signal) => api.get<Processor>(`/api/v2/generic-processor/${id}`, undefined, signal), [id]);
  useTitle(processor.data?.name ?? 'Processor');
  const [error, setError] = useState<string>();
  const data = processor.data;
  const remove = async () => {
    try {
      await api.delete(`/api/v2/generic-processor/${id}`);
      navigate('/processors');
    } catch (failure) {
      setError((failure as Error).message);
    }
  };
  return (
    <>
      <PageHeader title={data?.name ?? 'Processor'} back={{ href: '/processors', label: 'Processors' }}>
        {data ? <StatusBadge status={data.status} /> : null}
        {data ? <ConfirmButton label="Delete" confirmLabel="Delete processor" onConfirm={remove} /> : null}
      </PageHeader>
      <ErrorNote message={processor.error ?? error} />
      {data ? (
        <div class="grid-2">
          <section class="card" aria-labelledby="processor-about">
            <h2 id="processor-about">About</h2>
            {data.description ? <p>{data.description}</p> : null}
            <dl class="facts facts-1">
              <div>
                <dt>Id</dt>
                <dd class="mono">{data.id}</dd>
              </div>
              <div>
                <dt>Script</dt>
                <dd>
                  <span class="mono">{data.processor_file_path}</span>
                  {data.processor_presigned_url ? (
                    <>
                      {' '}
                      ·{' '}
                      <a href={data.processor_presigned_url} target="_blank" rel="noopener noreferrer">
                        download (signed URL, 8 h)
                      </a>
                    </>
                  ) : null}
                </dd>
              </div>
              <div>
                <dt>Uploaded</dt>
                <dd>
                  {when(data.created_at)} by {data.created_by}
                </dd>
              </div>
            </dl>
          </section>
          <section class="card" aria-labelledby="processor-parameters">
            <h2 id="processor-parameters">Parameters</h2>
            <p class="hint">Passed to the script as its third argument (JSON).</p>
            <Json value={data.processor_parameters} label="Processor parameters" />
          </section>
        </div>
      ) : null}
    </>
  );
}

function processorErrorTarget(field: string | undefined): string | undefined {
  if (field === 'generic_processor_file') return 'processor-file';
  if (field?.startsWith('generic_processor.processor_parameters')) return 'processor-parameters';
  if (field === 'generic_processor.description') return 'processor-description';
  if (field === 'generic_processor.name' || field === 'generic_processor') return 'processor-name';
  return undefined;
}

export function UploadProcessorPage() {
  useTitle('Upload a processor');
  const [name, setName] = useState('');
  const [description, setDescription] = useState('');
  const [parameters, setParameters] = useState('{}');
  const [file, setFile] = useState<File>();
  const [errors, setErrors] = useState<Record<string, string>>({});
  const [formError, setFormError] = useState<string>();
  const [busy, setBusy] = useState(false);

  const fail = (target: string, message: string) => {
    setErrors({ [target]: message });
    requestAnimationFrame(() => document.getElementById(target)?.focus());
  };

  const submit = async (event: Event) => {
    event.preventDefault();
    setErrors({});
    setFormError(undefined);
    let parsed: unknown;
    try {
      parsed = JSON.parse(parameters || '{}');
    } catch (failure) {
      return fail('processor-parameters', `Not valid JSON: ${(failure as Error).message}`);
    }
    const metadata: Record<string, unknown> = { name: name.trim(), processor_parameters: parsed };
    if (description.trim()) metadata.description = description.trim();
    const form = new FormData();
    form.append('generic_processor', JSON.stringify(metadata));
    if (file) form.append('generic_processor_file', file, file.name);
    setBusy(true);
    try {
      const created = await upload<Processor>('/api/v2/generic-processor', form, () => undefined);
      navigate(`/processors/${created.id}`);
    } catch (failure) {
      const target = failure instanceof ApiError ? processorErrorTarget(failure.field) : undefined;
      if (target && failure instanceof ApiError) fail(target, messageFor(failure.message, failure.field));
      else setFormError((failure as Error).message);
    } finally {
      setBusy(false);
    }
  };

  return (
    <>
      <PageHeader title="Upload a processor" back={{ href: '/processors', label: 'Processors' }} />
      <form class="form" onSubmit={submit} noValidate>
        <ErrorNote message={formError} />
        <fieldset class="section">
          <legend>Processor</legend>
          <div class="field-row">
            <Field id="processor-name" label="Name" error={errors['processor-name']}>
              <input
                type="text"
                value={name}
                onInput={(event) => setName(event.currentTarget.value)}
                {...describedBy('processor-name', errors['processor-name'])}
              />
            </Field>
            <Field
              id="processor-file"
              label="Python script"
              hint='A .py file (at most 10 MB) with an if __name__ == "__main__": block.'
              error={errors['processor-file']}
            >
              <input
                type="file"
                accept=".py,text/x-python"
                onChange={(event) => setFile(event.currentTarget.files?.[0])}
                {...describedBy('processor-file', errors['processor-file'], true)}
              />
            </Field>
          </div>
          <Field id="processor-description" label="Description" error={errors['processor-description']} wide>
            <input
              type="text"
              value={description}
              onInput={(event) => setDescription(event.currentTarget.value)}
              {...describedBy('processor-description', errors['processor-description'])}
            />
          </Field>
          <Field
            id="processor-parameters"
            label="Parameters (JSON object)"
            hint="Handed to the script as its third argument."
            error={errors['processor-parameters']}
            wide
          >
            <textarea
              rows={5}
              class="mono"
              spellcheck={false}
              value={parameters}
              onInput={(event) => setParameters(event.currentTarget.value)}
              {...describedBy('processor-parameters', errors['processor-parameters'], true)}
            />
          </Field>
        </fieldset>
        <div class="form-actions">
          <button type="submit" class="button button-primary" disabled={busy}>
            {busy ? 'Uploading…' : 'Upload'}
          </button>
          <Link class="button" href="/processors">
            Cancel
          </Link>
        </div>
      </form>
    </>
  );
}
