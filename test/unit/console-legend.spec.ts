import { classColourMap, DEFAULT_CLASS_COLORS } from '../../src/geo/tiles/cog-tiles';
import { classOfColour, DEFAULT_CLASS_COLORS as CONSOLE_COLORS, legendOf } from '../../web/src/legend';
import type { ModelClassSpec } from '../../workflows/contract/model-spec';

/** The console's legend must name the colours the tile renderer draws, or clicked pixels get the wrong class. */
describe('console legend = tile colours', () => {
  const specs: Array<{ classes: ModelClassSpec[]; output_nodata?: number }> = [
    {
      classes: [
        { value: 0, name: 'clear', color: '#3a7d44', background: true },
        { value: 1, name: 'cloud', color: '#F0F0F0' },
        { value: 2, name: 'cloud_shadow', color: '#4b4b6b' },
      ],
    },
    // No colours, a short #rgb one, a duplicate value and a class on the nodata value.
    {
      classes: [
        { value: 3, name: 'a' },
        { value: 7, name: 'b', color: '#0a0' },
        { value: 3, name: 'again' },
        { value: 9, name: 'nodata' },
        ...Array.from({ length: 12 }, (_, i) => ({ value: 20 + i, name: `c${i}` })),
      ],
      output_nodata: 9,
    },
  ];

  it('uses the same default palette', () => {
    expect(CONSOLE_COLORS).toEqual(DEFAULT_CLASS_COLORS);
  });

  it.each(specs.map((spec, index) => [index, spec] as const))(
    'gives each class its tile colour (spec %i)',
    (_, spec) => {
      const colours = classColourMap(spec.classes, spec.output_nodata ?? 255);
      const legend = legendOf(spec);
      const drawn = legend.map((entry) => [entry.value, colours.palette[colours.indexOf(entry.value)]!.slice(0, 3)]);
      expect(legend.map((entry) => [entry.value, entry.rgb])).toEqual(drawn);
      // Every class the tiles draw is in the legend, and no more.
      const values = new Set(spec.classes.map((entry) => entry.value).filter((value) => colours.indexOf(value) !== 0));
      expect(legend.map((entry) => entry.value).sort((a, b) => a - b)).toEqual([...values].sort((a, b) => a - b));
      // A clicked pixel's colour names its class (classes that share a palette colour cannot be told apart).
      for (const entry of legend.filter((one) => legend.filter((other) => other.color === one.color).length === 1))
        expect(classOfColour(legend, [...entry.rgb, 255])?.value).toBe(entry.value);
    },
  );
});
