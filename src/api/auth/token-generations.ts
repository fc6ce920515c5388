import { Injectable } from '@nestjs/common';
import { LRUCache } from 'lru-cache';
import { InferencesRepository } from '../../platform/database/repositories';

/** How long an API process may go on accepting tokens of a generation another process has revoked. */
const GENERATION_TTL_MS = 5000;

/**
 * Token generations of inferences (tile, map and events tokens are signed with them): looked up per token check
 * with a short cache, since a map view asks for dozens of tiles at once. A revocation clears this process's cache
 * at once; other API processes notice within GENERATION_TTL_MS.
 */
@Injectable()
export class TokenGenerations {
  private readonly generations = new LRUCache<string, number>({ max: 10_000, ttl: GENERATION_TTL_MS });
  private readonly inferenceOfTask = new LRUCache<string, string>({ max: 50_000 });

  constructor(private readonly inferences: InferencesRepository) {}

  /** 0 for an inference that does not exist (its tokens then fail elsewhere: 404). */
  async ofInference(inferenceId: string): Promise<number> {
    const cached = this.generations.get(inferenceId);
    if (cached !== undefined) return cached;
    const generation = (await this.inferences.tokenGeneration(inferenceId)) ?? 0;
    this.generations.set(inferenceId, generation);
    return generation;
  }

  async ofTask(taskId: string): Promise<number> {
    let inferenceId = this.inferenceOfTask.get(taskId);
    if (inferenceId === undefined) {
      inferenceId = (await this.inferences.inferenceIdOfTask(taskId)) ?? undefined;
      if (inferenceId === undefined) return 0;
      this.inferenceOfTask.set(taskId, inferenceId);
    }
    return this.ofInference(inferenceId);
  }

  /** Revokes every tile, map and events token of the inference issued so far; the new generation. */
  async revoke(inferenceId: string): Promise<number> {
    const generation = await this.inferences.raiseTokenGeneration(inferenceId);
    this.generations.set(inferenceId, generation);
    return generation;
  }
}
