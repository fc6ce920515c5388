/**
 * Runs schemathesis (PyPI, python/requirements.txt) against the OpenAPI document of a running API and
 * sums up its JSON report: how many requests it sent, and the failures of the checks that matter here
 * (no 5xx, answers that match their documented status codes, media types and schemas). Shared by
 * `npm run fuzz:api` (scripts/fuzz-api.ts) and the e2e fuzz test.
 */
import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { repoPath } from '../src/platform/repo-root';

export const FUZZ_CHECKS = [
  'not_a_server_error',
  'status_code_conformance',
  'content_type_conformance',
  'response_schema_conformance',
] as const;

export interface FuzzOptions {
  baseUrl: string;
  apiKey: string;
  /** Test cases per operation and phase. */
  maxExamples: number;
  /** Time budget of the whole run, seconds. */
  maxTimeSeconds: number;
  reportDir: string;
  seed?: number;
  /** Where schemathesis's own output goes (default: this process's stdout). */
  output?: (chunk: string) => void;
}

export interface FuzzSummary {
  exitCode: number | null;
  operations: number;
  /** Test cases run: one request each (the stateful phase, which chains requests, is off). */
  requests: number;
  /** Unique failures per kind, as schemathesis titles them ("Server error", "Response violates schema", ...). */
  failures: Record<string, number>;
  serverErrors: number;
  schemaViolations: number;
  /** The operations that failed, each with its first failure's title. */
  failedOperations: string[];
  /** Errors of schemathesis itself (a generator crashing on a schema), not answers of the API. */
  toolErrors: number;
}

export function schemathesisBin(): string {
  const venv = process.env.GEO_VENV ?? repoPath('.venv');
  const bin = path.join(venv, 'bin', 'schemathesis');
  if (!fs.existsSync(bin))
    throw new Error(`${bin} not found: run bash scripts/provision.sh test (python/requirements.txt)`);
  return bin;
}

export async function runSchemathesis(options: FuzzOptions): Promise<FuzzSummary> {
  fs.mkdirSync(options.reportDir, { recursive: true });
  const junit = path.join(options.reportDir, 'junit.xml');
  const args = [
    'run',
    `${options.baseUrl}/docs-json`,
    '--url',
    options.baseUrl,
    '--header',
    `Authorization: Bearer ${options.apiKey}`,
    '--checks',
    FUZZ_CHECKS.join(','),
    '--phases',
    'examples,coverage,fuzzing',
    '--max-examples',
    String(options.maxExamples),
    '--max-time',
    String(options.maxTimeSeconds),
    '--request-timeout',
    '20',
    '--workers',
    '1',
    '--continue-on-failure',
    '--suppress-health-check',
    'all',
    '--report',
    'junit',
    '--report-junit-path',
    junit,
    '--seed',
    String(options.seed ?? 1),
    '--no-color',
  ];
  const output = options.output ?? ((chunk: string) => process.stdout.write(chunk));
  let transcript = '';
  const exitCode = await new Promise<number | null>((resolve, reject) => {
    // Its cache (.schemathesis/) goes next to the report, not into the checkout.
    const child = spawn(schemathesisBin(), args, { stdio: ['ignore', 'pipe', 'pipe'], cwd: options.reportDir });
    const take = (chunk: Buffer) => {
      transcript += chunk.toString();
      output(chunk.toString());
    };
    child.stdout.on('data', take);
    child.stderr.on('data', take);
    child.on('error', reject);
    child.on('close', resolve);
  });
  return { exitCode, ...summarise(transcript, fs.existsSync(junit) ? fs.readFileSync(junit, 'utf8') : '') };
}

/** The figures of a run from schemathesis's summary (stdout) and its JUnit report. */
export function summarise(transcript: string, junitXml: string): Omit<FuzzSummary, 'exitCode'> {
  const requests = Number(/Test cases:\s*\n\s*(\d+) generated/.exec(transcript)?.[1] ?? 0);
  const operations = Number(/Tested:\s*(\d+)/.exec(transcript)?.[1] ?? 0);
  const failures: Record<string, number> = {};
  const section = /\nFailures:\n([\s\S]*?)\n\s*\n/.exec(transcript)?.[1] ?? '';
  for (const line of section.split('\n')) {
    const match = /(?:ST\d+\s+)?([A-Za-z][^:]*?):\s*(\d+)\s*$/.exec(line.replace(/^[^A-Za-z]*/, ''));
    if (match) failures[match[1].trim()] = Number(match[2]);
  }
  const failedOperations = [
    ...junitXml.matchAll(/<testcase name="([^"]+)"[^>]*>\s*<failure[^>]*>[\s\S]*?- (?:ST\d+ )?([^\n]+)/g),
  ].map((match) => `${match[1].replace(/&amp;/g, '&')}: ${match[2].trim()}`);
  const count = (pattern: RegExp) =>
    Object.entries(failures)
      .filter(([title]) => pattern.test(title))
      .reduce((sum, [, value]) => sum + value, 0);
  const errors = /\nErrors:\n([\s\S]*?)\n\s*\n/.exec(transcript)?.[1] ?? '';
  const toolErrors = [...errors.matchAll(/:\s*(\d+)\s*$/gm)].reduce((sum, match) => sum + Number(match[1]), 0);
  return {
    operations,
    requests,
    toolErrors,
    failures,
    serverErrors: count(/server error/i),
    schemaViolations: count(/schema/i),
    failedOperations,
  };
}
