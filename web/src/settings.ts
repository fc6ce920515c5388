/** Browser-local preferences (not secret, so localStorage): an optional basemap for the maps. */
const BASEMAP = 'geo-inference.basemap';

export interface Basemap {
  /** XYZ template, e.g. https://tiles.example.org/{z}/{x}/{y}.png; empty: the built-in country outlines. */
  url: string;
  attribution: string;
  maxZoom: number;
}

export function basemap(): Basemap {
  try {
    const stored = JSON.parse(localStorage.getItem(BASEMAP) ?? 'null') as Partial<Basemap> | null;
    return { url: stored?.url ?? '', attribution: stored?.attribution ?? '', maxZoom: stored?.maxZoom ?? 19 };
  } catch {
    return { url: '', attribution: '', maxZoom: 19 };
  }
}

export function saveBasemap(value: Basemap): void {
  if (value.url) localStorage.setItem(BASEMAP, JSON.stringify(value));
  else localStorage.removeItem(BASEMAP);
}
