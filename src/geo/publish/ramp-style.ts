/**
 * SLD 1.0 raster style of a continuous (regression) output: a ColorMap type="ramp" of the model's colormap over its
 * display range, nine entries low to high (GeoServer interpolates between them). Nodata pixels are left to the
 * GeoTIFF's nodata value (NaN or the spec's output_nodata), which GeoServer renders transparent.
 */
import { colorMapSld } from './sld';
import { colormapHex, DEFAULT_COLORMAP } from '../tiles/colormaps';

export interface RampStyle {
  colormap?: string;
  min: number;
  max: number;
  units?: string;
}

const RAMP_STOPS = 9;

export function rampStyleSld(styleName: string, ramp: RampStyle): string {
  const colormap = ramp.colormap ?? DEFAULT_COLORMAP;
  const entries = Array.from({ length: RAMP_STOPS }, (_, k) => {
    const t = k / (RAMP_STOPS - 1);
    const value = ramp.min + t * (ramp.max - ramp.min);
    return {
      '@_color': colormapHex(colormap, t),
      '@_quantity': String(value),
      '@_label': `${Number(value.toPrecision(6))}${ramp.units ? ` ${ramp.units}` : ''}`,
      '@_opacity': '1',
    };
  });
  return colorMapSld(styleName, `${styleName} ${colormap} ${ramp.min}..${ramp.max}`, 'ramp', entries);
}
