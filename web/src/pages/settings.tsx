import { useState } from 'preact/hooks';
import { describedBy, Field, Note, PageHeader, useTitle } from '../components/ui';
import { basemap, saveBasemap } from '../settings';

export function SettingsPage() {
  useTitle('Settings');
  const [value, setValue] = useState(basemap());
  const [saved, setSaved] = useState(false);
  const [error, setError] = useState<string>();

  const submit = (event: Event) => {
    event.preventDefault();
    const url = value.url.trim();
    if (url && !(/^https?:\/\//.test(url) && url.includes('{z}') && url.includes('{x}') && url.includes('{y}'))) {
      setError('An http(s) URL with {z}, {x} and {y}, e.g. https://tiles.example.org/{z}/{x}/{y}.png');
      return;
    }
    setError(undefined);
    saveBasemap({ ...value, url });
    setSaved(true);
  };

  return (
    <>
      <PageHeader title="Settings" />
      <form class="form" onSubmit={submit} noValidate>
        <fieldset class="section">
          <legend>Basemap</legend>
          <p class="hint">
            Without one, maps show the bundled country outlines and load nothing from other hosts (for air-gapped
            sites). A basemap URL makes this browser fetch tiles from that server. Kept in this browser only.
          </p>
          <Field id="basemap-url" label="XYZ tile URL" error={error} wide>
            <input
              type="url"
              value={value.url}
              placeholder="https://tiles.example.org/{z}/{x}/{y}.png"
              onInput={(event) => {
                setValue({ ...value, url: event.currentTarget.value });
                setSaved(false);
              }}
              {...describedBy('basemap-url', error)}
            />
          </Field>
          <div class="field-row">
            <Field id="basemap-attribution" label="Attribution">
              <input
                type="text"
                value={value.attribution}
                onInput={(event) => setValue({ ...value, attribution: event.currentTarget.value })}
                id="basemap-attribution"
              />
            </Field>
            <Field id="basemap-zoom" label="Max. zoom">
              <input
                type="number"
                min={1}
                max={24}
                value={value.maxZoom}
                onInput={(event) => setValue({ ...value, maxZoom: Number(event.currentTarget.value) || 19 })}
                id="basemap-zoom"
              />
            </Field>
          </div>
        </fieldset>
        <div class="form-actions">
          <button type="submit" class="button button-primary">
            Save
          </button>
        </div>
        {saved ? <Note kind="success">Saved. Maps opened from now on use it.</Note> : null}
      </form>
    </>
  );
}
