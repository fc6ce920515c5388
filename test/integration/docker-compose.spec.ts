import { execFile } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { promisify } from 'node:util';
import { requiredEnv } from '../support/services';

const run = promisify(execFile);
const REPO = path.resolve(__dirname, '..', '..');
const COMPOSE_FILE = path.join(REPO, 'docker', 'compose.yaml');

interface ComposeService {
  environment?: Record<string, string>;
  cap_add?: string[];
  security_opt?: string[];
  user?: string;
  depends_on?: Record<string, { condition: string }>;
  build?: { dockerfile: string; args?: Record<string, string> };
  image?: string;
  deploy?: { resources?: { reservations?: { devices?: Array<{ driver?: string; capabilities?: string[] }> } } };
}

/** The production stack's compose file, checked by Docker Compose itself (`docker compose config`; no engine needed). */
describe('docker/compose.yaml', () => {
  async function config(
    env: Record<string, string>,
    options: string[] = [],
  ): Promise<{ services: Record<string, ComposeService> }> {
    const { stdout } = await run(
      requiredEnv('DOCKER_COMPOSE_BIN'),
      ['-f', COMPOSE_FILE, ...options, 'config', '--format', 'json'],
      {
        env: { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '/tmp', ...env },
        maxBuffer: 16 * 1024 * 1024,
      },
    );
    return JSON.parse(stdout);
  }

  /** What the production stack requires: keys, the payload codec key and the Web UI's OpenID Connect client. */
  const REQUIRED = {
    API_KEYS: 'key:ops@example.com',
    ADMIN_API_KEYS: 'admin-key:admin@example.com',
    TEMPORAL_CODEC_KEY: Buffer.alloc(32, 1).toString('base64'),
    TEMPORAL_UI_OIDC_ISSUER_URL: 'https://sso.example.com',
    TEMPORAL_UI_OIDC_CLIENT_ID: 'temporal-ui',
    TEMPORAL_UI_OIDC_CLIENT_SECRET: 'oidc-secret',
  };

  it('passes `docker compose config`, with one worker pool per task queue and the processor pool privileged', async () => {
    const { services } = await config(REQUIRED);
    expect(Object.keys(services).sort()).toEqual(
      [
        'api',
        'geoserver',
        'minio',
        'postgres',
        'temporal',
        'temporal-setup',
        'temporal-ui',
        'worker-fetch',
        'worker-model',
        'worker-processor',
        'worker-workflows',
      ].sort(),
    );
    const roles = Object.fromEntries(
      Object.entries(services)
        .filter(([name]) => name.startsWith('worker-'))
        .map(([name, service]) => [name, service.environment?.WORKER_ROLES]),
    );
    expect(roles).toEqual({
      'worker-workflows': 'workflows',
      'worker-fetch': 'fetch',
      'worker-model': 'model',
      'worker-processor': 'processor',
    });
    // Every process routes steps to the same queues.
    for (const name of ['api', 'worker-workflows', 'worker-fetch', 'worker-model', 'worker-processor']) {
      expect(services[name]!.environment).toMatchObject({
        TEMPORAL_TASK_QUEUE: 'geo-inference',
        TEMPORAL_FETCH_TASK_QUEUE: 'geo-inference-fetch',
        TEMPORAL_MODEL_TASK_QUEUE: 'geo-inference-model',
        TEMPORAL_PROCESSOR_TASK_QUEUE: 'geo-inference-processor',
        API_KEYS: 'key:ops@example.com',
      });
    }
    const processor = services['worker-processor']!;
    expect(processor.user).toBe('root');
    expect(processor.cap_add).toEqual(expect.arrayContaining(['SYS_ADMIN', 'SETUID', 'SETGID', 'SYS_CHROOT']));
    expect(processor.security_opt).toEqual(expect.arrayContaining(['seccomp=unconfined', 'apparmor=unconfined']));
    expect(services['worker-model']!.cap_add ?? []).toEqual([]);
    expect(services.api!.depends_on?.['temporal-setup']).toEqual(
      expect.objectContaining({ condition: 'service_completed_successfully' }),
    );
  });

  it('has a `gpu` profile: a model pool on its own task queue, with the CUDA image and the host GPUs', async () => {
    const { services } = await config(REQUIRED, ['--profile', 'gpu']);
    const gpu = services['worker-model-gpu']!;
    expect(gpu.environment).toMatchObject({
      WORKER_ROLES: 'model',
      TEMPORAL_MODEL_TASK_QUEUE: 'geo-inference-model-gpu',
      ONNX_EXECUTION_PROVIDERS: 'cuda,cpu',
    });
    expect(gpu.build).toMatchObject({ dockerfile: 'docker/Dockerfile.worker', args: { WITH_CUDA: 'true' } });
    expect(gpu.image).toBe('geo-inference-worker-gpu');
    expect(gpu.deploy?.resources?.reservations?.devices).toEqual([
      expect.objectContaining({ driver: 'nvidia', capabilities: ['gpu'] }),
    ]);
    // The CPU pool keeps its queue and does not try CUDA; routing the steps to the GPUs is one variable.
    expect(services['worker-model']!.environment).toMatchObject({
      TEMPORAL_MODEL_TASK_QUEUE: 'geo-inference-model',
      ONNX_EXECUTION_PROVIDERS: 'cpu',
    });
    const routed = await config({ ...REQUIRED, TEMPORAL_MODEL_TASK_QUEUE: 'geo-inference-model-gpu' }, [
      '--profile',
      'gpu',
    ]);
    for (const name of ['api', 'worker-workflows'])
      expect(routed.services[name]!.environment?.TEMPORAL_MODEL_TASK_QUEUE).toBe('geo-inference-model-gpu');
  });

  it('puts the Temporal Web UI behind OpenID Connect with the API as its codec server, and keeps the frontend private', async () => {
    const { services } = await config(REQUIRED);
    expect(services['temporal-ui']!.environment).toMatchObject({
      TEMPORAL_AUTH_ENABLED: 'true',
      TEMPORAL_AUTH_PROVIDER_URL: 'https://sso.example.com',
      TEMPORAL_CODEC_ENDPOINT: 'http://localhost:3000/api/v2/temporal-codec',
      // The UI sends the signed-in user's access token; the API verifies it with the same issuer.
      TEMPORAL_CODEC_PASS_ACCESS_TOKEN: 'true',
    });
    expect(services.api!.environment).toMatchObject({
      TEMPORAL_UI_OIDC_ISSUER_URL: 'https://sso.example.com',
      TEMPORAL_UI_OIDC_CLIENT_ID: 'temporal-ui',
      TEMPORAL_UI_OIDC_GROUPS_CLAIM: 'groups',
    });
    const withAdmins = await config({
      ...REQUIRED,
      TEMPORAL_UI_ADMIN_EMAILS: 'ops@example.com',
      TEMPORAL_UI_ADMIN_GROUPS: 'temporal-admins',
    });
    expect(withAdmins.services.api!.environment).toMatchObject({
      TEMPORAL_UI_ADMIN_EMAILS: 'ops@example.com',
      TEMPORAL_UI_ADMIN_GROUPS: 'temporal-admins',
    });
    expect((services.temporal as { ports?: unknown[] }).ports ?? []).toEqual([]);
    for (const name of ['api', 'worker-workflows', 'worker-fetch'])
      expect(services[name]!.environment?.TEMPORAL_CODEC_KEY).toBe(REQUIRED.TEMPORAL_CODEC_KEY);
  });

  it.each(['ADMIN_API_KEYS', 'TEMPORAL_CODEC_KEY', 'TEMPORAL_UI_OIDC_ISSUER_URL'])(
    'refuses to start without %s, saying so',
    async (variable) => {
      const { [variable as keyof typeof REQUIRED]: _left, ...rest } = REQUIRED;
      await expect(config(rest)).rejects.toThrow(new RegExp(variable));
    },
  );

  it('builds its images from files that exist', () => {
    for (const dockerfile of ['Dockerfile.api', 'Dockerfile.worker']) {
      const text = fs.readFileSync(path.join(REPO, 'docker', dockerfile), 'utf8');
      for (const match of text.matchAll(/^COPY\s+(?!--from)(.+)$/gm)) {
        const parts = match[1]!.trim().split(/\s+/);
        for (const source of parts.slice(0, -1))
          expect([dockerfile, source, fs.existsSync(path.join(REPO, source))]).toEqual([dockerfile, source, true]);
      }
    }
  });
});
