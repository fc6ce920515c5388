// esbuild's `file` loader (scripts/build-console.ts): importing a JSON data file gives its URL under /assets.
declare module 'world-atlas/*.json' {
  const url: string;
  export default url;
}
