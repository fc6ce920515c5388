import type { Router } from 'express';
import { METHODS } from 'node:http';

interface RouteLayer {
  route?: { methods: Record<string, boolean> };
  match(path: string): boolean;
}

/**
 * The HTTP methods Express routes for a path, upper case (HEAD with GET), from the router's own layers,
 * so the answer matches exactly what routing would do (case, trailing slash, parameters). Empty: no route.
 */
export function routedMethods(router: Router | undefined, path: string): string[] {
  const stack = (router as unknown as { stack?: RouteLayer[] } | undefined)?.stack ?? [];
  const methods = new Set<string>();
  for (const layer of stack) {
    // `app.all()` layers (Nest mounts path-bound middleware that way) answer no method of their own.
    if (!layer.route || Object.keys(layer.route.methods).length >= METHODS.length) continue;
    let matches = false;
    try {
      matches = layer.match(path);
    } catch {
      matches = false;
    }
    if (!matches) continue;
    for (const [method, enabled] of Object.entries(layer.route.methods)) {
      if (enabled && method !== '_all') methods.add(method.toUpperCase());
    }
  }
  if (methods.has('GET')) methods.add('HEAD');
  return [...methods].sort();
}
