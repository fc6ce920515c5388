import * as L from 'leaflet';
import { useEffect, useRef, useState } from 'preact/hooks';
import { api, sameOrigin } from '../api';
import { ErrorNote, PageHeader, useLoad, useTitle } from '../components/ui';
import { shortId } from '../format';
import { classOfColour, legendOf, type LegendEntry } from '../legend';
import { createMap } from '../map/basemap';
import { useLocation } from '../router';
import type { Inference, Model, Task, TasksAnswer, TileSetResult } from '../types';
import { taskInputLabel } from './inference';

interface Layer {
  task: Task;
  tiles: TileSetResult;
  bounds: L.LatLngBounds;
  url: string;
}

interface Pixel {
  lat: number;
  lng: number;
  values: Array<{ task: number; text: string }>;
}

function layersOf(tasks: Task[]): Layer[] {
  const layers: Layer[] = [];
  for (const task of tasks) {
    const tiles = (task.outputs['push-to-geoserver'] ?? {}) as TileSetResult;
    if (!task.tile_url_template || !tiles.bounds) continue;
    const [west, south, east, north] = tiles.bounds;
    layers.push({
      task,
      tiles,
      bounds: L.latLngBounds([south, west], [north, east]),
      url: sameOrigin(task.tile_url_template),
    });
  }
  return layers;
}

/** The tile (at the zoom Leaflet requests: at most the layer's native zoom) and pixel under a point. */
function tileAt(map: L.Map, latlng: L.LatLng, maxzoom: number) {
  const z = Math.min(Math.round(map.getZoom()), maxzoom);
  const point = map.project(latlng, z);
  const [x, y] = [Math.floor(point.x / 256), Math.floor(point.y / 256)];
  return { z, x, y, px: Math.floor(point.x - x * 256), py: Math.floor(point.y - y * 256) };
}

/** Reads one pixel of a tile (the browser has it cached: the map just drew it). */
async function tilePixel(url: string, px: number, py: number): Promise<[number, number, number, number]> {
  const response = await fetch(url);
  if (!response.ok) throw new Error(`tile answered ${response.status}`);
  const image = await createImageBitmap(await response.blob(), {
    colorSpaceConversion: 'none',
    premultiplyAlpha: 'none',
  });
  const canvas = document.createElement('canvas');
  canvas.width = image.width;
  canvas.height = image.height;
  const context = canvas.getContext('2d', { willReadFrequently: true })!;
  context.drawImage(image, 0, 0);
  const data = context.getImageData(px, py, 1, 1).data;
  return [data[0]!, data[1]!, data[2]!, data[3]!];
}

function describePixel(legend: LegendEntry[], rgba: [number, number, number, number]): string {
  if (rgba[3] === 0) return 'no data';
  const entry = classOfColour(legend, rgba);
  return entry ? `${entry.name} (value ${entry.value})` : `colour rgb(${rgba.slice(0, 3).join(', ')})`;
}

/** Text nodes only: class names come from user-registered model specs. */
function popupContent(values: Pixel['values']): HTMLElement {
  const content = document.createElement('div');
  for (const value of values) {
    const line = document.createElement('div');
    line.textContent = `Task ${value.task}: ${value.text}`;
    content.append(line);
  }
  return content;
}

export function ResultMapPage({ id }: { id: string }) {
  useTitle(`Map of inference ${shortId(id)}`);
  const { query } = useLocation();
  const focusTask = query.get('task');
  const inference = useLoad((signal) => api.get<Inference>(`/api/v2/inference/${id}`, undefined, signal), [id]);
  const model = useLoad(
    async (signal) =>
      inference.data ? api.get<Model>(`/api/v2/models/${inference.data.model_id}`, undefined, signal) : undefined,
    [inference.data?.model_id],
  );
  const tasks = useLoad((signal) => api.get<TasksAnswer>(`/api/v2/inference/${id}/tasks`, undefined, signal), [id]);

  const element = useRef<HTMLDivElement>(null);
  const map = useRef<L.Map>();
  const tileLayers = useRef(new Map<string, L.TileLayer>());
  const [visible, setVisible] = useState<Record<string, boolean>>({});
  const [opacity, setOpacity] = useState<Record<string, number>>({});
  const [pixel, setPixel] = useState<Pixel>();
  const [inspecting, setInspecting] = useState(false);
  const legend = legendOf(model.data?.model_input_data_spec);
  const layers = tasks.data ? layersOf(tasks.data.tasks) : [];
  const inspectRef = useRef<(latlng: L.LatLng) => void>(() => undefined);

  useEffect(() => {
    const created = createMap(element.current!, { zoomControl: true });
    created.setView([20, 0], 2);
    created.on('click', (event: L.LeafletMouseEvent) => inspectRef.current(event.latlng));
    map.current = created;
    return () => {
      created.remove();
      map.current = undefined;
    };
  }, []);

  // One tile layer and footprint per task output; fitted to all of them (or the one in ?task=).
  const layerKey = layers.map((layer) => `${layer.task.task_id}:${layer.url}`).join('|');
  useEffect(() => {
    const target = map.current;
    if (!target || layers.length === 0) return;
    const added: L.Layer[] = [];
    tileLayers.current.clear();
    for (const layer of layers) {
      const tileLayer = L.tileLayer(layer.url, {
        maxNativeZoom: layer.tiles.maxzoom ?? 18,
        maxZoom: 22,
        bounds: layer.bounds.pad(0.02),
        opacity: opacity[layer.task.task_id] ?? 0.8,
        className: 'result-tiles',
        attribution: '',
      });
      if (visible[layer.task.task_id] !== false) tileLayer.addTo(target);
      tileLayers.current.set(layer.task.task_id, tileLayer);
      const outline = L.rectangle(layer.bounds, {
        className: 'task-footprint',
        color: '#1d2733',
        weight: 1,
        dashArray: '4 3',
        fill: false,
        interactive: false,
      }).addTo(target);
      added.push(tileLayer, outline);
    }
    const focus = layers.find((layer) => layer.task.task_id === focusTask);
    const bounds = focus ? focus.bounds : layers.reduce((all, layer) => all.extend(layer.bounds), L.latLngBounds([]));
    target.fitBounds(bounds, { padding: [16, 16] });
    return () => added.forEach((layer) => layer.remove());
  }, [layerKey]);

  useEffect(() => {
    for (const [taskId, tileLayer] of tileLayers.current) {
      tileLayer.setOpacity(opacity[taskId] ?? 0.8);
      const shouldShow = visible[taskId] !== false;
      if (shouldShow && map.current && !map.current.hasLayer(tileLayer)) tileLayer.addTo(map.current);
      if (!shouldShow) tileLayer.remove();
    }
  }, [visible, opacity, layerKey]);

  // Tokens expire (TILE_TOKEN_TTL_SECONDS): fetch fresh tile URLs a minute before.
  useEffect(() => {
    const expiries = (tasks.data?.tasks ?? [])
      .map((task) => Date.parse(task.tile_url_expires_at ?? ''))
      .filter((value) => Number.isFinite(value));
    if (!expiries.length) return;
    const timer = setTimeout(tasks.reload, Math.max(30_000, Math.min(...expiries) - Date.now() - 60_000));
    return () => clearTimeout(timer);
  }, [tasks.data]);

  inspectRef.current = (latlng: L.LatLng) => {
    const target = map.current;
    if (!target) return;
    const shown = layers.filter((layer) => visible[layer.task.task_id] !== false && layer.bounds.contains(latlng));
    setInspecting(true);
    void Promise.all(
      shown.map(async (layer) => {
        const { z, x, y, px, py } = tileAt(target, latlng, layer.tiles.maxzoom ?? 18);
        const url = layer.url.replace('{z}', String(z)).replace('{x}', String(x)).replace('{y}', String(y));
        try {
          return { task: layer.task.task_index, text: describePixel(legend, await tilePixel(url, px, py)) };
        } catch (failure) {
          return { task: layer.task.task_index, text: `could not read the tile: ${(failure as Error).message}` };
        }
      }),
    ).then((values) => {
      setInspecting(false);
      setPixel({ lat: latlng.lat, lng: latlng.lng, values });
      if (values.length && map.current) {
        L.popup({ className: 'pixel-popup' }).setLatLng(latlng).setContent(popupContent(values)).openOn(map.current);
      }
    });
  };

  const fit = (bounds: L.LatLngBounds) => map.current?.fitBounds(bounds, { padding: [16, 16] });
  const error = inference.error ?? tasks.error ?? model.error;
  const withoutTiles = (tasks.data?.tasks ?? []).filter(
    (task) => task.status === 'FINISHED' && !task.tile_url_template,
  );

  return (
    <div class="map-page">
      <aside class="map-panel" aria-label="Layers and legend">
        <PageHeader
          title={inference.data?.description || `Inference ${shortId(id)}`}
          back={{ href: `/inferences/${id}`, label: 'Inference' }}
        />
        <ErrorNote message={error} title="Could not load the results" />
        {tasks.data && layers.length === 0 ? <p class="muted">No task has map tiles yet.</p> : null}
        {withoutTiles.length ? (
          <p class="muted">
            {withoutTiles.length} finished task(s) without tiles
            {withoutTiles[0]?.outputs['push-to-geoserver']?.tiles_problem
              ? `: ${String(withoutTiles[0].outputs['push-to-geoserver'].tiles_problem)}`
              : ' (published to GeoServer)'}
          </p>
        ) : null}
        {legend.length ? (
          <section aria-labelledby="legend-heading">
            <h2 id="legend-heading">Legend</h2>
            <ul class="legend" data-legend>
              {legend.map((entry) => (
                <li data-class-value={entry.value} data-class-color={entry.color}>
                  <span class="swatch" style={{ background: entry.color }} aria-hidden="true" />
                  {entry.name} <span class="muted">({entry.value})</span>
                  {entry.background ? <span class="muted"> · background</span> : null}
                </li>
              ))}
            </ul>
          </section>
        ) : null}
        {layers.length ? (
          <section aria-labelledby="layers-heading">
            <div class="section-head">
              <h2 id="layers-heading">Layers</h2>
              <button
                type="button"
                class="button"
                onClick={() => fit(layers.reduce((all, layer) => all.extend(layer.bounds), L.latLngBounds([])))}
              >
                Fit all
              </button>
            </div>
            <ul class="layers">
              {layers.map((layer) => {
                const taskId = layer.task.task_id;
                const value = Math.round((opacity[taskId] ?? 0.8) * 100);
                return (
                  <li data-layer={taskId}>
                    <label class="check">
                      <input
                        type="checkbox"
                        checked={visible[taskId] !== false}
                        onChange={(event) => setVisible({ ...visible, [taskId]: event.currentTarget.checked })}
                      />
                      Task {layer.task.task_index}{' '}
                      <span class="muted mono layer-name">{taskInputLabel(layer.task)}</span>
                    </label>
                    <div class="layer-controls">
                      <label for={`opacity-${taskId}`}>Opacity</label>
                      <input
                        id={`opacity-${taskId}`}
                        type="range"
                        min={0}
                        max={100}
                        step={5}
                        value={value}
                        aria-valuetext={`${value} %`}
                        onInput={(event) =>
                          setOpacity({ ...opacity, [taskId]: Number(event.currentTarget.value) / 100 })
                        }
                      />
                      <span class="muted">{value} %</span>
                      <button type="button" class="button button-small" onClick={() => fit(layer.bounds)}>
                        Fit
                      </button>
                    </div>
                  </li>
                );
              })}
            </ul>
          </section>
        ) : null}
        <section aria-labelledby="pixel-heading">
          <h2 id="pixel-heading">Pixel</h2>
          <p class="hint">Click the map (or inspect its centre) to see the class under a point.</p>
          <button
            type="button"
            class="button"
            disabled={!layers.length}
            onClick={() => map.current && inspectRef.current(map.current.getCenter())}
          >
            Inspect the centre
          </button>
          <div aria-live="polite" data-pixel>
            {inspecting ? <p class="muted">Reading…</p> : null}
            {pixel ? (
              <>
                <p class="mono">
                  {pixel.lat.toFixed(5)}, {pixel.lng.toFixed(5)}
                </p>
                {pixel.values.length ? (
                  <ul>
                    {pixel.values.map((value) => (
                      <li>
                        Task {value.task}: {value.text}
                      </li>
                    ))}
                  </ul>
                ) : (
                  <p class="muted">No layer covers this point.</p>
                )}
              </>
            ) : null}
          </div>
        </section>
      </aside>
      <div class="map map-results" ref={element} role="region" aria-label="Result map" />
    </div>
  );
}
