/**
 * The dependency rule of docs/architecture.md, checked by `npm run lint` (and so by CI). Each arrow "may import":
 *   src/api -> src/pipeline/client, src/platform, src/geo, workflows/contract
 *   src/pipeline/worker* -> activities (the only place that builds them), src/platform, src/geo, workflows/contract
 *   src/platform -> workflows/contract
 *   activities -> src/geo, src/platform, workflows/contract
 *   src/geo -> src/platform (storage and config interfaces, not the database), workflows/contract
 *   workflows -> workflows/contract, and `import type` from activities/index.ts only
 *   workflows/contract -> nothing of ours
 *   web (the browser console, bundled by scripts/build-console.ts) -> workflows/contract
 *   cli -> workflows/contract only (a client of the REST API, like any other)
 */
const OURS = '^(src|activities|workflows|scripts|bench|test)/';

module.exports = {
  forbidden: [
    {
      name: 'contract-is-a-leaf',
      comment: 'workflows/contract is shared by every layer: it imports nothing of ours outside itself',
      severity: 'error',
      from: { path: '^workflows/contract/' },
      to: { path: OURS, pathNot: '^workflows/contract/' },
    },
    {
      name: 'geo-is-framework-free',
      comment: 'src/geo is domain code: no Nest, Temporal or TypeORM',
      severity: 'error',
      from: { path: '^src/geo/' },
      to: { path: 'node_modules/(@nestjs|@temporalio|typeorm)/' },
    },
    {
      name: 'geo-depends-on-no-layer-above',
      comment: 'src/geo may use the contract, the platform adapters (not the database) and itself',
      severity: 'error',
      from: { path: '^src/geo/' },
      to: { path: OURS, pathNot: '^(src/geo/|workflows/contract/|src/platform/(storage|config|repo-root|temp-dir))' },
    },
    {
      name: 'platform-depends-on-no-layer-above',
      comment: 'src/platform adapts outside systems; it knows nothing of the HTTP API, the pipeline or the activities',
      severity: 'error',
      from: { path: '^src/platform/' },
      to: { path: '^(src/api|src/pipeline|activities|workflows/(?!contract/)|src/geo)' },
    },
    {
      name: 'activities-are-not-http',
      comment: 'activities never import the HTTP layer or the pipeline wiring',
      severity: 'error',
      from: { path: '^activities/' },
      to: { path: '^(src/api|src/pipeline|src/[^/]+\\.ts$)' },
    },
    {
      name: 'only-the-worker-builds-activities',
      comment: 'only src/pipeline/worker* (and the process entry points through it) import activities/',
      severity: 'error',
      from: { path: '^src/', pathNot: '^src/pipeline/worker' },
      to: { path: '^activities/' },
    },
    {
      name: 'api-uses-the-pipeline-client-only',
      comment: 'the HTTP layer talks to workflows through src/pipeline/client, never the worker',
      severity: 'error',
      from: { path: '^src/api/' },
      to: { path: '^(src/pipeline/(?!client)|workflows/(?!contract/))' },
    },
    {
      name: 'workflows-import-only-the-contract',
      comment: "workflow code is deterministic and bundled: the contract, itself, and the activities' types",
      severity: 'error',
      from: { path: '^workflows/' },
      to: { path: OURS, pathNot: '^(workflows/|activities/index\\.ts$)' },
    },
    {
      name: 'workflows-import-activities-as-types',
      severity: 'error',
      from: { path: '^workflows/' },
      to: { path: '^activities/index\\.ts$', dependencyTypesNot: ['type-only'] },
    },
    {
      name: 'standalone-worker-has-no-http',
      comment: 'src/worker.ts runs workers only: it must not load the Nest HTTP layer',
      severity: 'error',
      from: { path: '^src/worker\\.ts$' },
      to: { path: '^src/api/' },
    },
    {
      name: 'console-is-browser-code',
      comment: 'web/ runs in browsers: besides npm packages it may use only the shared contract, never server code',
      severity: 'error',
      from: { path: '^web/' },
      to: { path: OURS, pathNot: '^workflows/contract/' },
    },
    {
      name: 'cli-is-a-rest-client',
      comment: 'the CLI talks to the REST API over HTTP; of our code it may use the contract types only',
      severity: 'error',
      from: { path: '^cli/' },
      to: { path: '^(src|activities|workflows|scripts|bench|test)/', pathNot: '^workflows/contract/' },
    },
    {
      name: 'no-circular',
      severity: 'error',
      from: { path: '^(src|activities|workflows|web|cli)/' },
      to: { circular: true },
    },
  ],
  options: {
    doNotFollow: { path: 'node_modules' },
    tsPreCompilationDeps: true,
    tsConfig: { fileName: 'tsconfig.json' },
    exclude: { path: '^dist/' },
  },
};
