import { Logger } from '@nestjs/common';
import { createInferenceSchema } from '../../../src/api/inferences/inferences.dto';
import { removeTestDirs } from './fakes';
import { inferenceServices } from './services';

const ALICE = 'alice@example.com';

function request() {
  return createInferenceSchema.parse({
    model_display_name: 'tiny',
    spatial_domain: { urls: ['https://example.com/a.tif'] },
    temporal_domain: [],
  });
}

/** The workflow-start outbox over in-memory repositories: what POST stores, waits for and leaves to the scan. */
describe('WorkflowStartOutbox', () => {
  beforeAll(() => Logger.overrideLogger(false));
  afterAll(removeTestDirs);

  it('starts the workflow of a new inference right after the commit and clears its row', async () => {
    const services = await inferenceServices();
    services.models.seed();
    const view = await services.creation.create(request(), ALICE);
    expect(view.status).toBe('PENDING');
    expect(services.pipeline.started.map((run) => run.workflowId)).toEqual([view.id]);
    expect(services.starts.rows.size).toBe(0);
  });

  it('keeps an accepted inference whose start fails and starts it on a later scan when Temporal answers', async () => {
    const services = await inferenceServices();
    services.models.seed();
    services.pipeline.startOnceFailure = new Error('14 UNAVAILABLE: connection refused');
    const view = await services.creation.create(request(), ALICE);
    // Accepted (Temporal looked reachable): stored PENDING, the start owed with one failed attempt counted.
    expect(view.status).toBe('PENDING');
    expect(services.inferences.rows.get(view.id)?.status).toBe('PENDING');
    expect(services.starts.rows.get(view.id)?.attempts).toBe(1);
    expect(services.pipeline.started).toHaveLength(0);

    services.pipeline.startOnceFailure = undefined;
    services.outbox.onApplicationBootstrap();
    try {
      for (let i = 0; i < 50 && services.starts.rows.size > 0; i++) await new Promise((r) => setTimeout(r, 20));
      expect(services.starts.rows.size).toBe(0);
      expect(services.pipeline.started.map((run) => run.workflowId)).toEqual([view.id]);
    } finally {
      await services.outbox.onApplicationShutdown();
    }
  });

  it('counts a start refused as already started as done (a row left after its workflow started)', async () => {
    const services = await inferenceServices();
    services.models.seed();
    const view = await services.creation.create(request(), ALICE);
    const [run] = services.pipeline.started;
    services.starts.rows.set(view.id, { inferenceId: view.id, input: run.input, createdBy: ALICE, attempts: 0 });
    services.outbox.onApplicationBootstrap();
    try {
      for (let i = 0; i < 50 && services.starts.rows.size > 0; i++) await new Promise((r) => setTimeout(r, 20));
      expect(services.starts.rows.size).toBe(0);
      expect(services.pipeline.started).toHaveLength(1);
    } finally {
      await services.outbox.onApplicationShutdown();
    }
  });

  it('does not keep a client waiting behind queued starts', async () => {
    const services = await inferenceServices({ WORKFLOW_START_CONCURRENCY: '1', WORKFLOW_START_WAIT_MS: '60000' });
    services.models.seed();
    let release!: () => void;
    services.pipeline.startGate = new Promise<void>((resolve) => (release = resolve));
    // The first create takes the only start slot and waits for its start; the second finds no free slot.
    const first = services.creation.create(request(), ALICE);
    await new Promise((r) => setTimeout(r, 20));
    const second = await services.creation.create(request(), ALICE);
    expect(second.status).toBe('PENDING');
    expect(services.starts.rows.has(second.id)).toBe(true);
    release();
    const firstView = await first;
    for (let i = 0; i < 50 && services.starts.rows.size > 0; i++) await new Promise((r) => setTimeout(r, 20));
    expect(services.pipeline.started.map((run) => run.workflowId).sort()).toEqual([firstView.id, second.id].sort());
  });

  it('stops an inference whose workflow start is still owed by starting and then cancelling it', async () => {
    const services = await inferenceServices();
    services.models.seed();
    services.pipeline.startOnceFailure = new Error('14 UNAVAILABLE');
    const view = await services.creation.create(request(), ALICE);
    expect(services.starts.rows.has(view.id)).toBe(true);
    // Still down: the stop cannot reach the workflow service and says so.
    await expect(services.control.stop(view.id, ALICE)).rejects.toMatchObject({ status: 503 });
    services.pipeline.startOnceFailure = undefined;
    await expect(services.control.stop(view.id, ALICE)).resolves.toMatchObject({ status: 'STOPPING' });
    expect(services.pipeline.cancelled).toEqual([view.id]);
    expect(services.starts.rows.size).toBe(0);
  });
});
