import { Logger } from '@nestjs/common';
import { ApiError } from '../../../src/api/http/api-error';
import { storageKeys } from '../../../src/platform/storage/keys';
import { removeTestDirs } from './fakes';
import { inferenceServices } from './services';

const ALICE = 'alice@example.com';
const ID = '6f1c2b1e-3f0a-4c1e-9a57-2d6c3e8b9f10';

async function failureOf(promise: Promise<unknown>): Promise<ApiError> {
  const failure = await promise.then(
    () => undefined,
    (error: unknown) => error,
  );
  expect(failure).toBeInstanceOf(ApiError);
  return failure as ApiError;
}

describe('InferenceControlService', () => {
  beforeAll(() => Logger.overrideLogger(false));
  afterAll(removeTestDirs);

  describe('retry', () => {
    it('answers 409 when the inference has no failed or stopped task', async () => {
      const services = await inferenceServices();
      services.inferences.seed({ id: ID, status: 'FAILED', statusMessage: 'the webhook failed' });
      services.tasks.seed({ inferenceId: ID, taskIndex: 0, status: 'FINISHED' });

      const failure = await failureOf(services.control.retry(ID, ALICE));

      expect(failure.getStatus()).toBe(409);
      expect(failure.message).toBe(`inference ${ID} has no failed or stopped task to retry`);
      expect(services.pipeline.retried).toHaveLength(0);
      expect(services.inferences.updates).toHaveLength(0);
    });

    it('answers 409 while the inference still runs', async () => {
      const services = await inferenceServices();
      services.inferences.seed({ id: ID, status: 'RUNNING' });
      services.tasks.seed({ inferenceId: ID, taskIndex: 0, status: 'FAILED' });

      const failure = await failureOf(services.control.retry(ID, ALICE));

      expect(failure.getStatus()).toBe(409);
      expect(failure.message).toBe(`inference ${ID} is RUNNING; only FAILED or STOPPED inferences can be retried`);
    });

    it('reruns the failed and stopped tasks as a new run of the same workflow, resuming from their states', async () => {
      const services = await inferenceServices();
      services.inferences.seed({ id: ID, workflowId: ID, status: 'FAILED', finishedAt: new Date(), retries: 1 });
      const done = services.tasks.seed({ inferenceId: ID, taskIndex: 0, status: 'FINISHED', outputKey: 'out/0.tif' });
      const failed = services.tasks.seed({ inferenceId: ID, taskIndex: 1, status: 'FAILED', statusMessage: 'bad' });

      expect(await services.control.retry(ID, ALICE)).toEqual({
        id: ID,
        status: 'PENDING',
        tasks_to_rerun: 1,
        message: 'failed and stopped tasks rerun from the step that did not finish',
      });

      expect(services.inferences.rows.get(ID)).toMatchObject({
        status: 'PENDING',
        statusMessage: null,
        finishedAt: null,
        retries: 2,
      });
      const [run] = services.pipeline.retried;
      expect(run.workflowId).toBe(ID);
      expect(run.input.steps).toEqual(done.pipelineSteps.map((step) => step.process_id));
      expect(run.input.resume).toEqual([
        expect.objectContaining({ task_id: done.taskId, status: 'FINISHED', output_key: 'out/0.tif' }),
        expect.objectContaining({ task_id: failed.taskId, status: 'FAILED', message: 'bad' }),
      ]);
    });

    it('puts the inference back as it was and answers 503 when the new run cannot be started', async () => {
      const services = await inferenceServices();
      const finishedAt = new Date('2026-01-01T00:00:00Z');
      services.inferences.seed({ id: ID, status: 'STOPPED', statusMessage: 'stopped by user', finishedAt });
      services.tasks.seed({ inferenceId: ID, taskIndex: 0, status: 'STOPPED' });
      services.pipeline.startFailure = new Error('deadline exceeded');

      const failure = await failureOf(services.control.retry(ID, ALICE));

      expect(failure.getStatus()).toBe(503);
      expect(failure.message).toBe('the workflow service is unavailable, retry not started: deadline exceeded');
      expect(services.inferences.rows.get(ID)).toMatchObject({
        status: 'STOPPED',
        statusMessage: 'stopped by user',
        finishedAt,
      });
    });
  });

  describe('stop', () => {
    it('answers 409 for an inference that has ended, without cancelling anything', async () => {
      const services = await inferenceServices();
      services.inferences.seed({ id: ID, status: 'COMPLETED' });

      const failure = await failureOf(services.control.stop(ID, ALICE));

      expect(failure.getStatus()).toBe(409);
      expect(failure.message).toBe(
        `inference ${ID} has already ended (COMPLETED); only PENDING or RUNNING inferences can be stopped`,
      );
      expect(services.pipeline.cancelled).toEqual([]);
    });

    it('answers 409 when the workflow of a RUNNING row is already gone', async () => {
      const services = await inferenceServices();
      services.inferences.seed({ id: ID, status: 'RUNNING' });

      expect((await failureOf(services.control.stop(ID, ALICE))).getStatus()).toBe(409);
    });

    it('cancels the workflow of a running inference', async () => {
      const services = await inferenceServices();
      services.inferences.seed({ id: ID, status: 'RUNNING' });
      services.pipeline.running.add(ID);

      expect(await services.control.stop(ID, ALICE)).toEqual({
        id: ID,
        status: 'STOPPING',
        message: 'cancellation requested; the inference becomes STOPPED when its running steps have stopped',
      });
      expect(services.pipeline.cancelled).toEqual([ID]);
    });

    it("answers 404 for another user's inference", async () => {
      const services = await inferenceServices();
      services.inferences.seed({ id: ID, status: 'RUNNING', createdBy: 'bob@example.com' });
      services.pipeline.running.add(ID);

      expect((await failureOf(services.control.stop(ID, ALICE))).getStatus()).toBe(404);
      expect(services.pipeline.cancelled).toEqual([]);
    });
  });

  describe('delete', () => {
    it('deletes an ended inference, its tasks and its objects', async () => {
      const services = await inferenceServices();
      services.inferences.seed({ id: ID, status: 'COMPLETED' });
      services.tasks.seed({ inferenceId: ID, taskIndex: 0, status: 'FINISHED' });
      const output = `${storageKeys.inferencePrefix(ID)}task-001/output.tif`;
      await services.store.putObject(output, Buffer.from('mask'));

      await services.control.delete(ID, ALICE);

      expect(services.inferences.rows.has(ID)).toBe(false);
      expect(services.tasks.rows.size).toBe(0);
      expect(await services.store.exists(output)).toBe(false);
      expect(services.pipeline.cancelled).toEqual([]);
    });

    it('cancels a running inference first and terminates its workflow when the cancellation does not land', async () => {
      const services = await inferenceServices();
      services.inferences.seed({ id: ID, status: 'RUNNING' });
      services.pipeline.running.add(ID);
      services.pipeline.closesAfterCancel = false;

      await services.control.delete(ID, ALICE);

      expect(services.pipeline.cancelled).toEqual([ID]);
      expect(services.pipeline.terminated).toEqual([{ workflowId: ID, reason: 'inference deleted' }]);
      expect(services.inferences.rows.has(ID)).toBe(false);
    });

    it('does not terminate a workflow that closed after its cancellation', async () => {
      const services = await inferenceServices();
      services.inferences.seed({ id: ID, status: 'PENDING' });
      services.pipeline.running.add(ID);

      await services.control.delete(ID, ALICE);

      expect(services.pipeline.cancelled).toEqual([ID]);
      expect(services.pipeline.terminated).toEqual([]);
      expect(services.inferences.rows.has(ID)).toBe(false);
    });
  });
});
