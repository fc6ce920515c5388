/** Jest projects: unit tests need nothing running; integration and e2e talk to the real services
 *  started by scripts/with-services.sh (PostgreSQL, MinIO, Temporal dev server, Python venv). */
const base = {
  testEnvironment: 'node',
  rootDir: __dirname,
  // quick-lru (used by geotiff) and flatgeobuf (with its dependencies) ship ES modules only; Node loads them
  // natively but Jest's CommonJS runtime needs them transpiled, so they go through ts-jest.
  transform: { '^.+\\.[tj]s$': ['ts-jest', { tsconfig: 'tsconfig.jest.json' }] },
  transformIgnorePatterns: ['/node_modules/(?!(quick-lru|flatgeobuf|flatbuffers|slice-source|@repeaterjs)/)'],
  // onnxruntime-node returns typed arrays of the main realm; tests must see the same constructors.
  setupFiles: ['<rootDir>/test/fixtures/jest-native-realm.ts'],
};
module.exports = {
  testTimeout: 120000,
  projects: [
    { ...base, displayName: 'unit', testMatch: ['<rootDir>/test/unit/**/*.spec.ts'] },
    {
      ...base,
      displayName: 'integration',
      testMatch: ['<rootDir>/test/integration/**/*.spec.ts'],
      setupFiles: [...base.setupFiles, '<rootDir>/test/support/quiet-temporal.ts'],
    },
    {
      ...base,
      displayName: 'e2e',
      testMatch: ['<rootDir>/test/e2e/**/*.spec.ts'],
      setupFiles: [...base.setupFiles, '<rootDir>/test/support/quiet-temporal.ts'],
    },
  ],
};
