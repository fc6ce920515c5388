import type { INestApplication } from '@nestjs/common';
import { routeAccess } from '../../src/api/auth/route-access';

export interface AppRoute {
  method: string;
  /** OpenAPI style: `:id` -> `{id}`, `*path` -> `{path}`. */
  path: string;
}

/** Every route handler of every controller in the Nest app (controllers added later are included automatically). */
export function nestRoutes(app: INestApplication): AppRoute[] {
  return routeAccess(app).map(({ method, path }) => ({ method, path }));
}

/** Routes the Express router actually serves (method + path), to check the Nest enumeration against. */
export function expressRoutes(app: INestApplication): AppRoute[] {
  type Layer = { route?: { path: string | string[]; methods: Record<string, boolean> } };
  const express = app.getHttpAdapter().getInstance() as { router?: { stack: Layer[] }; _router?: { stack: Layer[] } };
  const routes: AppRoute[] = [];
  for (const layer of (express.router ?? express._router)?.stack ?? []) {
    if (!layer.route) continue;
    for (const routePath of ([] as string[]).concat(layer.route.path)) {
      for (const [method, enabled] of Object.entries(layer.route.methods)) {
        if (enabled) routes.push({ method, path: routePath.replace(/[:*]([A-Za-z0-9_]+)/g, '{$1}') });
      }
    }
  }
  return routes;
}
