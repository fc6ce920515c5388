import * as path from 'node:path';
import { countOnnxParameters } from '../../src/geo/export/onnx-parameters';
import { REPO_ROOT, runPython } from '../support/python';
import { demoModelPaths } from '../support/services';

describe('mlm:total_parameters from the ONNX initializers', () => {
  it.each([
    ['the demo cloud-mask model', () => demoModelPaths().model],
    ['the tiny position model', () => path.join(REPO_ROOT, 'test/fixtures/tiny_position.onnx')],
    ['the tiny identity model', () => path.join(REPO_ROOT, 'test/fixtures/tiny_identity.onnx')],
  ])('counts what the onnx package counts for %s', async (_name, file) => {
    const expected = Number((await runPython('test/support/count_onnx_parameters.py', [file()])).trim());
    await expect(countOnnxParameters(file())).resolves.toBe(expected);
  });

  it('gives the demo model its real size (a CNN of tens of thousands of weights)', async () => {
    expect(await countOnnxParameters(demoModelPaths().model)).toBeGreaterThan(10_000);
  });
});
