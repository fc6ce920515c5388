import type { NextFunction, Request, Response } from 'express';

const UNRESERVED_ESCAPE = /%(2[dD]|3[0-9]|[46][1-9a-fA-F]|[57][0-9aA]|5[fF]|7[eE])/g;

/**
 * The path as routing should see it: percent-escapes of unreserved characters decoded (RFC 3986 6.2.2.2 makes
 * `/api/v2/%6dodels` the same URL as `/api/v2/models`; the dot stays escaped so no dot segment appears) and
 * runs of slashes collapsed. Express already routes case-insensitively and with or without a trailing slash,
 * so every spelling of a route reaches the same handler and the same guard; the query string is untouched.
 */
export function canonicalPath(path: string): string {
  return path
    .replace(UNRESERVED_ESCAPE, (escape) => String.fromCharCode(parseInt(escape.slice(1), 16)))
    .replace(/\/{2,}/g, '/');
}

export function canonicalPathMiddleware(request: Request, _response: Response, next: NextFunction): void {
  const queryAt = request.url.indexOf('?');
  const path = queryAt < 0 ? request.url : request.url.slice(0, queryAt);
  const canonical = canonicalPath(path);
  if (canonical !== path) request.url = canonical + (queryAt < 0 ? '' : request.url.slice(queryAt));
  next();
}
