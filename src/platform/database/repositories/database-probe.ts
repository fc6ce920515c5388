import type { DataSource } from 'typeorm';

/** Whether PostgreSQL answers (readiness checks). */
export class DatabaseProbe {
  constructor(private readonly dataSource: DataSource) {}

  async ping(): Promise<void> {
    await this.dataSource.query('SELECT 1');
  }
}
