/**
 * SLD 1.0 raster style of a continuous (regression) output: a ColorMap type="ramp" of the model's colormap over its
 * display range, nine entries low to high (GeoServer interpolates between them). Nodata pixels are left to the
 * GeoTIFF's nodata value (NaN or the spec's output_nodata), which GeoServer renders transparent.
 */
import { XMLBuilder } from 'fast-xml-parser';
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
  const document = {
    '?xml': { '@_version': '1.0', '@_encoding': 'UTF-8' },
    StyledLayerDescriptor: {
      '@_version': '1.0.0',
      '@_xmlns': 'http://www.opengis.net/sld',
      '@_xmlns:ogc': 'http://www.opengis.net/ogc',
      '@_xmlns:xlink': 'http://www.w3.org/1999/xlink',
      '@_xmlns:xsi': 'http://www.w3.org/2001/XMLSchema-instance',
      '@_xsi:schemaLocation':
        'http://www.opengis.net/sld http://schemas.opengis.net/sld/1.0.0/StyledLayerDescriptor.xsd',
      NamedLayer: {
        Name: styleName,
        UserStyle: {
          Name: styleName,
          Title: `${styleName} ${colormap} ${ramp.min}..${ramp.max}`,
          FeatureTypeStyle: {
            Rule: { RasterSymbolizer: { Opacity: 1, ColorMap: { '@_type': 'ramp', ColorMapEntry: entries } } },
          },
        },
      },
    },
  };
  return new XMLBuilder({ ignoreAttributes: false, format: true, suppressEmptyNode: true }).build(document) as string;
}
