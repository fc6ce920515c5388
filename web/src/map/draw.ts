import * as L from 'leaflet';

export type Area =
  { kind: 'bbox'; bbox: [number, number, number, number] } | { kind: 'polygon'; ring: Array<[number, number]> };

const round = (value: number) => Math.round(value * 1e6) / 1e6;
const clampLon = (lon: number) => Math.max(-180, Math.min(180, lon));
const clampLat = (lat: number) => Math.max(-85, Math.min(85, lat));

export function bboxOf(a: L.LatLng, b: L.LatLng): [number, number, number, number] {
  return [
    round(clampLon(Math.min(a.lng, b.lng))),
    round(clampLat(Math.min(a.lat, b.lat))),
    round(clampLon(Math.max(a.lng, b.lng))),
    round(clampLat(Math.max(a.lat, b.lat))),
  ];
}

/** The area as the API's spatial_domain wants it: a bbox array or a closed GeoJSON Polygon. */
export function polygonGeometry(ring: Array<[number, number]>): { type: 'Polygon'; coordinates: number[][][] } {
  return { type: 'Polygon', coordinates: [[...ring, ring[0]!]] };
}

export function layerOf(area: Area, style: L.PathOptions): L.Polygon {
  if (area.kind === 'bbox') {
    const [west, south, east, north] = area.bbox;
    return L.rectangle(
      [
        [south, west],
        [north, east],
      ],
      style,
    );
  }
  return L.polygon(
    area.ring.map(([lon, lat]) => [lat, lon] as [number, number]),
    style,
  );
}

export type DrawMode = 'bbox' | 'polygon' | undefined;

/**
 * Drawing areas with clicks (taps work the same): a box from two opposite corners; a polygon vertex by
 * vertex, closed with "Finish" or a double click. Escape cancels. Coordinates can also be typed in the form.
 */
export class AreaDrawer {
  private mode: DrawMode;
  private corner: L.LatLng | undefined;
  private vertices: L.LatLng[] = [];
  private preview: L.Polygon | L.Polyline | undefined;
  private readonly style: L.PathOptions = { color: '#175e8c', weight: 2, dashArray: '5 4', fillOpacity: 0.08 };

  constructor(
    private readonly map: L.Map,
    private readonly onArea: (area: Area) => void,
    private readonly onMode: (mode: DrawMode, vertices: number) => void,
  ) {
    map.on('click', this.click, this);
    map.on('mousemove', this.move, this);
    map.on('dblclick', this.doubleClick, this);
    map.getContainer().addEventListener('keydown', this.key);
  }

  start(mode: Exclude<DrawMode, undefined>): void {
    this.cancel();
    this.mode = mode;
    this.map.doubleClickZoom.disable();
    this.map.getContainer().classList.add('drawing');
    this.onMode(mode, 0);
  }

  /** Closes the polygon being drawn (at least three vertices). */
  finish(): void {
    if (this.mode === 'polygon' && this.vertices.length >= 3) {
      this.onArea({
        kind: 'polygon',
        ring: this.vertices.map((point) => [round(clampLon(point.lng)), round(clampLat(point.lat))]),
      });
    }
    this.cancel();
  }

  cancel(): void {
    this.mode = undefined;
    this.corner = undefined;
    this.vertices = [];
    this.preview?.remove();
    this.preview = undefined;
    this.map.getContainer().classList.remove('drawing');
    // Leaflet would zoom on the double click that closes a polygon.
    setTimeout(() => this.map.doubleClickZoom.enable(), 0);
    this.onMode(undefined, 0);
  }

  destroy(): void {
    this.map.off('click', this.click, this);
    this.map.off('mousemove', this.move, this);
    this.map.off('dblclick', this.doubleClick, this);
    this.map.getContainer().removeEventListener('keydown', this.key);
  }

  private click(event: L.LeafletMouseEvent): void {
    if (this.mode === 'bbox') {
      if (!this.corner) {
        this.corner = event.latlng;
        this.preview = L.rectangle(L.latLngBounds(event.latlng, event.latlng), this.style).addTo(this.map);
        this.onMode('bbox', 1);
        return;
      }
      const bbox = bboxOf(this.corner, event.latlng);
      this.cancel();
      if (bbox[0] < bbox[2] && bbox[1] < bbox[3]) this.onArea({ kind: 'bbox', bbox });
    } else if (this.mode === 'polygon') {
      this.vertices.push(event.latlng);
      this.drawPolygonPreview(event.latlng);
      this.onMode('polygon', this.vertices.length);
    }
  }

  private move(event: L.LeafletMouseEvent): void {
    if (this.mode === 'bbox' && this.corner && this.preview instanceof L.Rectangle) {
      this.preview.setBounds(L.latLngBounds(this.corner, event.latlng));
    } else if (this.mode === 'polygon' && this.vertices.length > 0) {
      this.drawPolygonPreview(event.latlng);
    }
  }

  private doubleClick(): void {
    // The double click's two clicks already added the last vertex (twice): drop the repeat.
    if (this.mode !== 'polygon') return;
    const [a, b] = this.vertices.slice(-2);
    if (a && b && a.distanceTo(b) < 1) this.vertices.pop();
    this.finish();
  }

  private drawPolygonPreview(cursor: L.LatLng): void {
    this.preview?.remove();
    this.preview = L.polygon([...this.vertices, cursor], this.style).addTo(this.map);
  }

  private readonly key = (event: KeyboardEvent) => {
    if (!this.mode) return;
    if (event.key === 'Escape') this.cancel();
    if (event.key === 'Enter' && this.mode === 'polygon') this.finish();
  };
}
