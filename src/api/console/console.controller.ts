import * as fs from 'node:fs';
import * as path from 'node:path';
import { Controller, Get, Inject, Param, Res } from '@nestjs/common';
import { ApiOperation, ApiTags } from '@nestjs/swagger';
import type { Response } from 'express';
import type { AppConfig } from '../../platform/config/config';
import { repoPath } from '../../platform/repo-root';
import { Public } from '../auth/public.decorator';
import { APP_CONFIG } from '../config.module';
import { ApiError } from '../http/api-error';
import { ApiRawResponse } from '../openapi/response-schemas';

/** Client-side routes of the console (web/src/routes.ts): each answers index.html, the app routes itself. */
export const CONSOLE_PAGES = [
  '/',
  'sign-in',
  'inferences',
  'inferences/*page',
  'models',
  'models/*page',
  'processors',
  'processors/*page',
  'settings',
];

/**
 * The page may load and fetch only from this origin; images may also come from http(s) for the optional
 * basemap a user can set (air-gapped sites leave it unset). Inline styles: Leaflet and Preact set style
 * properties, never inline scripts.
 */
const CONTENT_SECURITY_POLICY = [
  "default-src 'self'",
  "script-src 'self'",
  "style-src 'self' 'unsafe-inline'",
  "img-src 'self' data: blob: https: http:",
  "connect-src 'self'",
  "object-src 'none'",
  "base-uri 'self'",
  "form-action 'self'",
  "frame-ancestors 'none'",
].join('; ');

/** Express 5 hands `*name` wildcards over as path segments. */
function joinWildcard(value: string | string[]): string {
  return Array.isArray(value) ? value.join('/') : value;
}

/** Sends a file; an error after the headers (a client gone mid-file) only ends the response. */
function sendFile(response: Response, file: string, headers: Record<string, string>): void {
  response.sendFile(file, { cacheControl: false, headers }, (error) => {
    if (error && !response.headersSent) response.status(500).end();
  });
}

/** A file under root, or undefined: no `..`, no dot files, no directories. */
function fileUnder(root: string, relative: string): string | undefined {
  if (relative.split('/').some((part) => part === '' || part.startsWith('.'))) return undefined;
  const file = path.resolve(root, relative);
  if (!file.startsWith(root + path.sep)) return undefined;
  try {
    return fs.statSync(file).isFile() ? file : undefined;
  } catch {
    return undefined;
  }
}

/**
 * The web console (web/, bundled by scripts/build-console.ts): index.html for every client route (SPA
 * fallback), the hashed bundle under /assets (cached for good), and Leaflet's own files under
 * /vendor/leaflet for the /map page. No API key: the pages hold no data, the app asks for a key and sends it
 * with every API call.
 */
@ApiTags('console')
@Public()
@Controller()
export class ConsoleController {
  private readonly dir: string;
  private readonly leafletDir = path.join(path.dirname(require.resolve('leaflet/package.json')), 'dist');

  constructor(@Inject(APP_CONFIG) config: AppConfig) {
    this.dir = path.resolve(config.CONSOLE_DIR ?? repoPath('dist', 'console'));
  }

  @Get(CONSOLE_PAGES)
  @ApiOperation({ summary: 'The web console (a single-page app): index.html for each of its pages' })
  @ApiRawResponse(200, 'text/html', { description: 'index.html of the console' })
  page(@Res() response: Response): void {
    const index = fileUnder(this.dir, 'index.html');
    if (!index) throw new ApiError(503, `the web console is not built (no ${this.dir}/index.html): run npm run build`);
    sendFile(response, index, {
      // Revalidated each time: it names the current hashed bundle.
      'Cache-Control': 'no-cache',
      'Content-Security-Policy': CONTENT_SECURITY_POLICY,
      'X-Content-Type-Options': 'nosniff',
      'Referrer-Policy': 'same-origin',
    });
  }

  @Get('assets/*path')
  @ApiOperation({ summary: "The console's bundle (content-hashed file names, cached for a year)" })
  @ApiRawResponse(200, 'application/octet-stream', { binary: true, description: 'a script, style sheet or image' })
  asset(@Param('path') wildcard: string | string[], @Res() response: Response): void {
    const file = fileUnder(path.join(this.dir, 'assets'), joinWildcard(wildcard));
    if (!file) throw ApiError.notFound(`no console asset ${joinWildcard(wildcard)}`);
    sendFile(response, file, {
      'Cache-Control': 'public, max-age=31536000, immutable',
      'X-Content-Type-Options': 'nosniff',
    });
  }

  @Get('vendor/leaflet/*path')
  @ApiOperation({ summary: "Leaflet's script, style sheet and images (node_modules/leaflet/dist), for /map pages" })
  @ApiRawResponse(200, 'application/octet-stream', { binary: true, description: 'a script, style sheet or image' })
  leaflet(@Param('path') wildcard: string | string[], @Res() response: Response): void {
    const file = fileUnder(this.leafletDir, joinWildcard(wildcard));
    if (!file) throw ApiError.notFound(`no Leaflet file ${joinWildcard(wildcard)}`);
    sendFile(response, file, { 'Cache-Control': 'public, max-age=86400', 'X-Content-Type-Options': 'nosniff' });
  }
}
