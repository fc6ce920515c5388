import { asInstageoError } from '../../../src/api/instageo/instageo.service';
import { ApiError, type ApiErrorBody } from '../../../src/api/http/api-error';

const body = (error: unknown) => (error as ApiError).getResponse() as ApiErrorBody;

describe('InstaGeo errors: a field error of the v2 path is a 400 naming the InstaGeo field', () => {
  it.each([
    ['spatial_domain.bbox.1', 'bboxes.1'],
    ['temporal_domain.0', 'date'],
    ['maxcc', 'cloud_coverage'],
    ['model_display_name', 'model_type'],
    ['model_id', 'model_type'],
    ['temporal.num_steps', 'num_steps'],
    ['temporal.temporal_step', 'temporal_step'],
    ['temporal.temporal_tolerance', 'temporal_tolerance'],
    ['chip_size', 'chip_size'],
    ['data_source', 'data_source'],
  ])('%s -> %s', (v2Field, field) => {
    const mapped = body(asInstageoError(ApiError.unprocessable(`${v2Field}: not what the model accepts`, v2Field)));
    expect(mapped).toMatchObject({ statusCode: 400, field, message: `${field}: not what the model accepts` });
  });

  it('keeps errors without a field, 5xx and non-API errors as they are', () => {
    const noField = ApiError.unprocessable('model x is PENDING');
    expect(asInstageoError(noField)).toBe(noField);
    const unavailable = new ApiError(503, 'the workflow service is unavailable');
    expect(asInstageoError(unavailable)).toBe(unavailable);
    const plain = new Error('boom');
    expect(asInstageoError(plain)).toBe(plain);
  });
});
