import { ConfigError, loadConfig, parseApiKeys } from '../../src/platform/config/config';
import { countTasks, taskId } from '../../src/api/inferences/inferences.service';

describe('configuration', () => {
  it('parses API_KEYS as key:email pairs', () => {
    expect([...parseApiKeys(' k1:a@x.io , k2:b@y.io ')]).toEqual([
      ['k1', 'a@x.io'],
      ['k2', 'b@y.io'],
    ]);
  });

  it.each(['nokey', ':a@x.io', 'k1:'])('rejects the malformed API_KEYS entry %s', (entry) => {
    expect(() => parseApiKeys(entry)).toThrow(ConfigError);
  });

  it('falls back to the embedded defaults with a development key', () => {
    const config = loadConfig({ DATA_DIR: '/tmp/x' });
    expect(config.STORAGE_DRIVER).toBe('filesystem');
    expect(config.storageDir).toBe('/tmp/x/objects');
    expect(config.DATABASE_URL).toBeUndefined();
    expect(config.adminApiKeys.get('dev-key')).toBe('dev@localhost');
    expect(config.apiKeys.size).toBe(0);
    expect(config.publicBaseUrl).toBe('http://localhost:3000');
  });

  it('selects the GeoServer publisher only with GEOSERVER_URL, which needs a password', async () => {
    const { createPublisher } = await import('../../src/pipeline/worker');
    const { GeoServerPublisher } = await import('../../src/geo/publish/geoserver-publisher');
    const { BuiltInPublisher } = await import('../../src/geo/publish/publisher');
    const store = {} as never;
    expect(createPublisher(loadConfig({ DATA_DIR: '/tmp/x' }), store)).toBeInstanceOf(BuiltInPublisher);
    const config = loadConfig({
      DATA_DIR: '/tmp/x',
      GEOSERVER_URL: 'http://gs:8080/geoserver',
      GEOSERVER_PASSWORD: 'pw',
    });
    expect(config.GEOSERVER_USER).toBe('admin');
    expect(createPublisher(config, store)).toBeInstanceOf(GeoServerPublisher);
    expect(() => loadConfig({ DATA_DIR: '/tmp/x', GEOSERVER_URL: 'http://gs:8080/geoserver' })).toThrow(
      /GEOSERVER_URL needs GEOSERVER_PASSWORD/,
    );
    expect(() => loadConfig({ DATA_DIR: '/tmp/x', GEOSERVER_URL: 'not a url', GEOSERVER_PASSWORD: 'pw' })).toThrow(
      /GEOSERVER_URL/,
    );
  });

  it('requires API_KEYS in production and MinIO credentials for the minio driver', () => {
    expect(() => loadConfig({ NODE_ENV: 'production' })).toThrow(/API_KEYS/);
    expect(() => loadConfig({ STORAGE_DRIVER: 'minio' })).toThrow(/MINIO_ENDPOINT/);
  });

  it('names the offending variable', () => {
    expect(() => loadConfig({ PORT: 'eighty' })).toThrow(/PORT/);
    expect(() => loadConfig({ STORAGE_DRIVER: 's3' })).toThrow(/STORAGE_DRIVER/);
  });
});

describe('task counts', () => {
  it('always add up: waiting includes running tasks', () => {
    const counts = countTasks(['FINISHED', 'FINISHED', 'RUNNING', 'WAITING', 'FAILED', 'STOPPED']);
    expect(counts).toEqual({
      tasks_count_total: 6,
      tasks_count_success: 2,
      tasks_count_failed: 1,
      tasks_count_stopped: 1,
      tasks_count_waiting: 2,
      tasks_count_running: 1,
    });
    expect(
      counts.tasks_count_success + counts.tasks_count_failed + counts.tasks_count_stopped + counts.tasks_count_waiting,
    ).toBe(counts.tasks_count_total);
  });

  it('numbers task ids from 001', () => {
    expect(taskId('904d1e13-ddd2-415f-a963-120d16a240f0', 0)).toBe('904d1e13-ddd2-415f-a963-120d16a240f0-task-001');
  });
});
