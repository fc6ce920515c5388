import type { INestApplication } from '@nestjs/common';

interface RouterLayer {
  route?: { path: string | string[]; methods: Record<string, boolean> };
}

/**
 * Every route registered in the app's Express router, as OpenAPI-style paths (`:id` -> `{id}`,
 * `*path` -> `{path}`): found from the router itself, so routes of controllers added later are included.
 */
export function registeredRoutes(app: INestApplication): Array<{ method: string; path: string }> {
  const express = app.getHttpAdapter().getInstance() as { router?: { stack: RouterLayer[] }; _router?: { stack: RouterLayer[] } };
  const stack = (express.router ?? express._router)?.stack ?? [];
  const routes: Array<{ method: string; path: string }> = [];
  for (const layer of stack) {
    if (!layer.route) continue;
    for (const routePath of ([] as string[]).concat(layer.route.path)) {
      const path = routePath.replace(/[:*]([A-Za-z0-9_]+)/g, '{$1}').replace(/\/$/, '') || '/';
      for (const [method, enabled] of Object.entries(layer.route.methods)) {
        if (enabled && method !== '_all') routes.push({ method, path });
      }
    }
  }
  return routes;
}
