import { XMLBuilder } from 'fast-xml-parser';

export interface ColorMapEntry {
  '@_color': string;
  '@_quantity': string;
  '@_label': string;
  '@_opacity': string;
}

/**
 * SLD 1.0 document of one raster style: a RasterSymbolizer with a ColorMap of `type` (`values` for classes, `ramp`
 * for continuous values, which GeoServer interpolates).
 */
export function colorMapSld(
  styleName: string,
  title: string,
  type: 'values' | 'ramp',
  entries: ColorMapEntry[],
): string {
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
          Title: title,
          FeatureTypeStyle: {
            Rule: { RasterSymbolizer: { Opacity: 1, ColorMap: { '@_type': type, ColorMapEntry: entries } } },
          },
        },
      },
    },
  };
  // The builder escapes names (class labels and units are user input) in attributes and text.
  return new XMLBuilder({ ignoreAttributes: false, format: true, suppressEmptyNode: true }).build(document) as string;
}
