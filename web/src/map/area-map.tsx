import * as L from 'leaflet';
import { useEffect, useRef, useState } from 'preact/hooks';
import { AreaDrawer, layerOf, type Area, type DrawMode } from './draw';
import { createMap } from './basemap';

const HINTS: Record<string, (vertices: number) => string> = {
  bbox: (clicks) => (clicks === 0 ? 'Click the first corner of the box.' : 'Click the opposite corner.'),
  polygon: (vertices) =>
    vertices < 3
      ? `Click to add vertices (${vertices} so far, at least 3).`
      : `${vertices} vertices: click to add more, double-click or press Finish to close it.`,
};

/** The areas of a new inference on a map, drawn with the pointer (the form next to it takes typed ones). */
export function AreaMap({ areas, onAdd }: { areas: Area[]; onAdd: (area: Area) => void }) {
  const element = useRef<HTMLDivElement>(null);
  const drawer = useRef<AreaDrawer>();
  const shapes = useRef<L.FeatureGroup>();
  const mapRef = useRef<L.Map>();
  const addRef = useRef(onAdd);
  addRef.current = onAdd;
  const [mode, setMode] = useState<{ mode: DrawMode; count: number }>({ mode: undefined, count: 0 });

  useEffect(() => {
    const map = createMap(element.current!, { zoomControl: true });
    map.setView([30, 10], 2);
    mapRef.current = map;
    shapes.current = L.featureGroup().addTo(map);
    drawer.current = new AreaDrawer(
      map,
      (area) => addRef.current(area),
      (next, count) => setMode({ mode: next, count }),
    );
    return () => {
      drawer.current?.destroy();
      map.remove();
    };
  }, []);

  useEffect(() => {
    const group = shapes.current;
    if (!group) return;
    group.clearLayers();
    areas.forEach((area, index) =>
      layerOf(area, { color: '#c0392b', weight: 2, fillOpacity: 0.12 })
        .bindTooltip(`Area ${index + 1}`, { permanent: false })
        .addTo(group),
    );
  }, [areas]);

  const fit = () => {
    const bounds = shapes.current?.getBounds();
    if (bounds?.isValid()) mapRef.current?.fitBounds(bounds, { padding: [20, 20], maxZoom: 14 });
  };

  return (
    <div class="area-map">
      <div class="toolbar" role="toolbar" aria-label="Draw areas">
        <button
          type="button"
          class="button"
          aria-pressed={mode.mode === 'bbox'}
          onClick={() => drawer.current?.start('bbox')}
        >
          Draw box
        </button>
        <button
          type="button"
          class="button"
          aria-pressed={mode.mode === 'polygon'}
          onClick={() => drawer.current?.start('polygon')}
        >
          Draw polygon
        </button>
        {mode.mode === 'polygon' ? (
          <button
            type="button"
            class="button button-primary"
            disabled={mode.count < 3}
            onClick={() => drawer.current?.finish()}
          >
            Finish polygon
          </button>
        ) : null}
        {mode.mode ? (
          <button type="button" class="button" onClick={() => drawer.current?.cancel()}>
            Cancel
          </button>
        ) : null}
        <button type="button" class="button" disabled={areas.length === 0} onClick={fit}>
          Zoom to areas
        </button>
      </div>
      <p class="hint" aria-live="polite">
        {mode.mode ? HINTS[mode.mode]!(mode.count) : 'Draw a box or a polygon, or type coordinates below.'}
      </p>
      <div class="map map-form" ref={element} aria-label="Map for drawing areas" />
    </div>
  );
}
