import { compareOutputs } from '../../../src/api/models/golden-pair';

describe('golden pair comparison', () => {
  it('counts pixels beyond the tolerance and reports the largest difference', () => {
    const expected = new Float32Array([0, 1, 2, 1, 0.5, 3]);
    const output = new Float32Array([0, 1, 1, 1, 0.75, 0]);
    expect(compareOutputs(output, expected, 0)).toEqual({ max_difference: 3, differing_pixels: 3 });
    expect(compareOutputs(output, expected, 0.25)).toEqual({ max_difference: 3, differing_pixels: 2 });
    expect(compareOutputs(output, expected, 3)).toEqual({ max_difference: 3, differing_pixels: 0 });
  });

  it('treats NaN as equal to NaN and infinitely far from a number', () => {
    const expected = new Float32Array([Number.NaN, Number.NaN, 1]);
    const output = new Float32Array([Number.NaN, 4, 1]);
    expect(compareOutputs(output, expected, 10)).toEqual({ max_difference: Infinity, differing_pixels: 1 });
  });

  it('compares class masks exactly', () => {
    const expected = new Uint8Array([0, 1, 2, 255]);
    expect(compareOutputs(new Uint8Array([0, 1, 2, 255]), expected, 0)).toEqual({
      max_difference: 0,
      differing_pixels: 0,
    });
    expect(compareOutputs(new Uint8Array([0, 2, 2, 0]), expected, 0)).toEqual({
      max_difference: 255,
      differing_pixels: 2,
    });
  });
});
