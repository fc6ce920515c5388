import { Inject, Injectable } from '@nestjs/common';
import type { AppConfig } from '../../platform/config/config';
import { PipelineClient, type TaskQueueType } from '../../pipeline/client';
import { APP_CONFIG } from '../config.module';

const VARIABLE_OF_ROLE: Record<string, string> = {
  workflows: 'TEMPORAL_TASK_QUEUE',
  fetch: 'TEMPORAL_FETCH_TASK_QUEUE',
  model: 'TEMPORAL_MODEL_TASK_QUEUE',
  processor: 'TEMPORAL_PROCESSOR_TASK_QUEUE',
};

/** Pollers and backlog of every task queue this deployment uses. */
@Injectable()
export class QueuesService {
  constructor(
    @Inject(APP_CONFIG) private readonly config: AppConfig,
    private readonly pipeline: PipelineClient,
  ) {}

  async status() {
    const queues = new Map<string, { roles: string[]; vars: string[] }>();
    for (const [role, name] of Object.entries(this.config.taskQueues)) {
      const entry = queues.get(name) ?? { roles: [], vars: [] };
      entry.roles.push(role);
      // A step queue left unset falls back to TEMPORAL_TASK_QUEUE: name only the variables actually set.
      if (role === 'workflows' || this.config[VARIABLE_OF_ROLE[role] as keyof AppConfig])
        entry.vars.push(VARIABLE_OF_ROLE[role]);
      queues.set(name, entry);
    }
    const results = await Promise.all(
      [...queues].map(async ([name, entry]) => {
        // Workflow tasks only ever go to the workflows queue; every queue may carry activity tasks.
        const types: TaskQueueType[] = entry.roles.includes('workflows') ? ['workflow', 'activity'] : ['activity'];
        const described = await Promise.all(
          types.map(async (type) => [type, await this.pipeline.taskQueueStats(name, type)] as const),
        );
        return { name, roles: entry.roles, config_vars: entry.vars, types: Object.fromEntries(described) };
      }),
    );
    return { namespace: this.config.TEMPORAL_NAMESPACE, queues: results };
  }
}
