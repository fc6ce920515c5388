/**
 * Part of `npm run build`: bundles the web console (web/) with esbuild into dist/console: index.html plus
 * content-hashed files under assets/ (JavaScript, CSS, Leaflet's images, the country outlines), so the API
 * serves everything itself and browsers cache the assets for good. Tests call buildConsole() directly.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { build } from 'esbuild';
import { repoPath } from '../src/platform/repo-root';

export interface ConsoleBuild {
  outdir: string;
  /** Paths under assets/ of the entry's script and style sheet. */
  script: string;
  style: string;
  bytes: number;
}

export async function buildConsole(outdir = repoPath('dist', 'console')): Promise<ConsoleBuild> {
  const assets = path.join(outdir, 'assets');
  fs.rmSync(outdir, { recursive: true, force: true });
  const result = await build({
    entryPoints: { app: repoPath('web', 'src', 'main.tsx') },
    bundle: true,
    minify: true,
    sourcemap: 'linked',
    format: 'esm',
    target: ['chrome110', 'firefox115', 'safari16'],
    jsx: 'automatic',
    jsxImportSource: 'preact',
    loader: { '.png': 'file', '.svg': 'file', '.json': 'file' },
    outdir: assets,
    entryNames: '[name]-[hash]',
    assetNames: '[name]-[hash]',
    publicPath: '/assets',
    metafile: true,
    legalComments: 'linked',
    logLevel: 'warning',
  });
  const outputs = Object.entries(result.metafile.outputs);
  const [scriptFile, scriptOutput] = outputs.find(([, output]) => output.entryPoint !== undefined) ?? [];
  if (!scriptFile || !scriptOutput?.cssBundle) throw new Error('esbuild wrote no script or style sheet bundle');
  const underAssets = (file: string) => path.relative(assets, path.resolve(file)).split(path.sep).join('/');
  const script = underAssets(scriptFile);
  const style = underAssets(scriptOutput.cssBundle);
  const template = fs.readFileSync(repoPath('web', 'index.html'), 'utf8');
  const html = template
    .replace('<!-- style -->', `<link rel="stylesheet" href="/assets/${style}">`)
    .replace('<!-- script -->', `<script type="module" src="/assets/${script}"></script>`);
  if (html === template) throw new Error('web/index.html lacks the <!-- style --> and <!-- script --> markers');
  fs.writeFileSync(path.join(outdir, 'index.html'), html);
  const bytes = outputs.reduce((sum, [, output]) => sum + output.bytes, 0);
  return { outdir, script, style, bytes };
}

if (require.main === module) {
  buildConsole().then(
    (built) =>
      console.log(
        `web console: ${path.relative(process.cwd(), built.outdir)} (${(built.bytes / 1024).toFixed(0)} KiB, ${built.script})`,
      ),
    (error: Error) => {
      console.error(error.stack ?? error.message);
      process.exit(1);
    },
  );
}
