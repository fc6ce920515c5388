/** Injection token of the application's ObjectStore (re-exported by storage.module.ts). */
export const OBJECT_STORE = 'OBJECT_STORE';
