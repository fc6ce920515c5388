import { Writable } from 'node:stream';
import { ConfigError, loadConfig } from '../../src/platform/config/config';
import { pinoLevel, pinoLevelOfNestLevels, rootLogger, setLogDestination } from '../../src/platform/logging/logger';
import { openApiSchema } from '../../src/api/openapi/zod-openapi';
import { createInferenceSchema, listInferencesQuerySchema } from '../../src/api/inferences/inferences.dto';

describe('operations configuration', () => {
  it('validates the telemetry variables and names the offending one', () => {
    expect(
      loadConfig({ TEMPORAL_METRICS_BIND_ADDRESS: '0.0.0.0:9464', WORKER_METRICS_PORT: '9465', LOG_LEVEL: 'debug' }),
    ).toMatchObject({
      TEMPORAL_METRICS_BIND_ADDRESS: '0.0.0.0:9464',
      WORKER_METRICS_PORT: 9465,
      LOG_LEVEL: 'debug',
    });
    expect(() => loadConfig({ TEMPORAL_METRICS_BIND_ADDRESS: '9464' })).toThrow(
      /TEMPORAL_METRICS_BIND_ADDRESS: must be host:port/,
    );
    expect(() => loadConfig({ WORKER_METRICS_PORT: 'abc' })).toThrow(/WORKER_METRICS_PORT/);
    expect(() => loadConfig({ LOG_LEVEL: 'loud' })).toThrow(ConfigError);
  });
});

describe('logging', () => {
  afterEach(() => setLogDestination(undefined));

  it('maps Nest level names to pino levels', () => {
    expect(pinoLevel('log')).toBe('info');
    expect(pinoLevel('verbose')).toBe('trace');
    expect(pinoLevelOfNestLevels(['error', 'warn'])).toBe('warn');
    expect(pinoLevelOfNestLevels(false)).toBe('silent');
  });

  it('writes one JSON object per line and redacts secrets', () => {
    const lines: string[] = [];
    setLogDestination(new Writable({ write: (chunk, _encoding, done) => (lines.push(String(chunk)), done()) }), 'log');
    rootLogger()
      .child({ inference_id: 'abc' })
      .info(
        { req: { headers: { authorization: 'Bearer secret-key' } }, payload: { webhook_secret: 'whsec_x' } },
        'hello',
      );
    expect(lines).toHaveLength(1);
    const entry = JSON.parse(lines[0]);
    expect(entry).toMatchObject({
      level: 'info',
      msg: 'hello',
      inference_id: 'abc',
      service: 'geo-inference',
      time: expect.stringMatching(/^\d{4}-\d\d-\d\dT/),
    });
    expect(lines[0]).not.toContain('secret-key');
    expect(lines[0]).not.toContain('whsec_x');
  });
});

describe('OpenAPI schemas from zod', () => {
  it('converts the request DTOs without duplicating them', () => {
    const create = openApiSchema(createInferenceSchema);
    expect(create.type).toBe('object');
    expect(create.required).toEqual(expect.arrayContaining(['spatial_domain', 'temporal_domain']));
    expect(create).not.toHaveProperty('$schema');
    const query = openApiSchema(listInferencesQuerySchema);
    expect(Object.keys(query.properties ?? {})).toEqual([
      'limit',
      'offset',
      'status',
      'model_id',
      'model_display_name',
      'created_by',
    ]);
  });
});
