import 'leaflet/dist/leaflet.css';
import type { FeatureCollection } from 'geojson';
import * as L from 'leaflet';
import { feature } from 'topojson-client';
import type { GeometryCollection, Topology } from 'topojson-specification';
import countriesUrl from 'world-atlas/countries-50m.json';
import { basemap } from '../settings';

let outlines: Promise<FeatureCollection> | undefined;

/** Natural Earth country outlines, bundled (air-gapped sites get no remote basemap), loaded once. */
function countryOutlines(): Promise<FeatureCollection> {
  outlines ??= fetch(countriesUrl)
    .then((response) => response.json() as Promise<Topology<{ countries: GeometryCollection }>>)
    .then((topology) => feature(topology, topology.objects.countries) as FeatureCollection);
  return outlines;
}

/** A Leaflet map with the basemap of the settings: a tile URL if one is set, else the country outlines. */
export function createMap(element: HTMLElement, options: L.MapOptions = {}): L.Map {
  const map = L.map(element, { zoomSnap: 1, worldCopyJump: true, minZoom: 1, ...options });
  map.attributionControl.setPrefix('<a href="https://leafletjs.com" target="_blank" rel="noopener">Leaflet</a>');
  const settings = basemap();
  if (settings.url) {
    L.tileLayer(settings.url, { maxZoom: settings.maxZoom, attribution: settings.attribution }).addTo(map);
  } else {
    map.createPane('outlines').style.zIndex = '150';
    void countryOutlines().then(
      (collection) => {
        if (!map.getContainer().isConnected) return;
        L.geoJSON(collection, {
          pane: 'outlines',
          interactive: false,
          style: { color: '#8a99a8', weight: 0.8, fillColor: '#f4f1ea', fillOpacity: 1 },
        }).addTo(map);
      },
      () => undefined, // the outlines are orientation only
    );
    map.attributionControl.addAttribution('Outlines: Natural Earth');
  }
  return map;
}
