import { ApplicationFailure } from '@temporalio/common';
import { QueryFailedError } from 'typeorm';
import { invalidInput, StepFailure } from '../../workflows/contract/errors';
import { infrastructureDependency, isInfrastructureError } from '../../src/platform/infrastructure-errors';
import { retryInfrastructure } from '../../activities/runtime/infrastructure-retry';

const withCode = (message: string, code: string) => Object.assign(new Error(message), { code });

describe('infrastructure errors', () => {
  it('names the dependency of storage, database and socket errors, through causes and driver errors', () => {
    expect(infrastructureDependency(withCode('connect ECONNREFUSED 127.0.0.1:9000', 'ECONNREFUSED'))).toBe('network');
    expect(infrastructureDependency(withCode('Please reduce your request rate.', 'SlowDown'))).toBe('object storage');
    expect(infrastructureDependency(withCode('Server not initialized', 'XMinioServerNotInitialized'))).toBe(
      'object storage',
    );
    expect(infrastructureDependency(new Error('Connection terminated unexpectedly'))).toBe('database');
    expect(infrastructureDependency(new Error('timeout exceeded when trying to connect'))).toBe('database');
    const shutdown = new QueryFailedError('SELECT 1', [], withCode('terminating connection', '57P01'));
    expect(infrastructureDependency(shutdown)).toBe('database');
    const wrapped = new Error('read failed', { cause: withCode('socket hang up', 'ECONNRESET') });
    expect(infrastructureDependency(wrapped)).toBe('network');
    expect(infrastructureDependency(new AggregateError([withCode('x', 'ECONNREFUSED')], 'all failed'))).toBe('network');
  });

  it('leaves bad input, SQL errors, bugs and failures the domain code classified alone', () => {
    expect(isInfrastructureError(invalidInput('the input has 3 bands'))).toBe(false);
    expect(isInfrastructureError(new QueryFailedError('SELECT', [], withCode('syntax error', '42601')))).toBe(false);
    expect(isInfrastructureError(new TypeError('undefined is not a function'))).toBe(false);
    expect(isInfrastructureError(withCode('no such key', 'NoSuchKey'))).toBe(false);
    // A download of the user's URL failing is the step's own (retried by its policy), even with a socket cause.
    const classified = ApplicationFailure.create({
      message: 'download failed',
      type: 'TransientFetchError',
      cause: withCode('refused', 'ECONNREFUSED'),
    });
    expect(isInfrastructureError(classified)).toBe(false);
    expect(isInfrastructureError(StepFailure.retryable('x', 'SomethingElse'))).toBe(false);
  });
});

describe('retryInfrastructure', () => {
  it('waits out an outage with growing, capped waits and returns what the body returns once it is back', async () => {
    let calls = 0;
    let waits = 0;
    const started = Date.now();
    const result = await retryInfrastructure(
      async () => {
        calls += 1;
        if (calls < 4) throw withCode('connect ECONNREFUSED', 'ECONNREFUSED');
        return 'done';
      },
      { budgetMs: 10_000, initialDelayMs: 20, maxDelayMs: 40, onWait: () => (waits += 1) },
    );
    expect(result).toBe('done');
    expect(calls).toBe(4);
    expect(waits).toBeGreaterThanOrEqual(3);
    // 20 + 40 + 40 ms (capped), not 20 + 40 + 80.
    expect(Date.now() - started).toBeLessThan(1000);
  });

  it('fails at once on bad input, and with the last error once the budget is spent', async () => {
    let calls = 0;
    await expect(
      retryInfrastructure(
        async () => {
          calls += 1;
          throw invalidInput('bad');
        },
        { budgetMs: 10_000, initialDelayMs: 10 },
      ),
    ).rejects.toThrow('bad');
    expect(calls).toBe(1);

    calls = 0;
    await expect(
      retryInfrastructure(
        async () => {
          calls += 1;
          throw withCode(`refused ${calls}`, 'ECONNREFUSED');
        },
        { budgetMs: 100, initialDelayMs: 20, maxDelayMs: 20 },
      ),
    ).rejects.toThrow(/refused \d/);
    expect(calls).toBeGreaterThanOrEqual(3);
    expect(calls).toBeLessThan(10);
  });

  it('stops waiting when the activity is cancelled', async () => {
    const controller = new AbortController();
    setTimeout(() => controller.abort(new Error('cancelled')), 50);
    await expect(
      retryInfrastructure(
        async () => {
          throw withCode('refused', 'ECONNREFUSED');
        },
        { budgetMs: 60_000, initialDelayMs: 10_000, signal: controller.signal },
      ),
    ).rejects.toThrow('cancelled');
  });
});
