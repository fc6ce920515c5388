import { RequestMethod, type INestApplication } from '@nestjs/common';
import { METHOD_METADATA, PATH_METADATA } from '@nestjs/common/constants';
import { ModulesContainer } from '@nestjs/core';

export interface AppRoute {
  method: string;
  /** OpenAPI style: `:id` -> `{id}`, `*path` -> `{path}`. */
  path: string;
}

const joinPaths = (...parts: Array<string | undefined>) =>
  `/${parts
    .flatMap((part) => (part ?? '').split('/'))
    .filter(Boolean)
    .join('/')}`;

/**
 * Every route handler of every controller in the Nest app, from Nest's own module container and route
 * metadata (what @Controller/@Get/... declare): controllers added later are included automatically.
 */
export function nestRoutes(app: INestApplication): AppRoute[] {
  const routes: AppRoute[] = [];
  for (const module of app.get(ModulesContainer).values()) {
    for (const wrapper of module.controllers.values()) {
      const controller = wrapper.metatype as (new (...args: never[]) => unknown) | null;
      if (!controller) continue;
      const prefixes = ([] as string[]).concat(Reflect.getMetadata(PATH_METADATA, controller) ?? '');
      const prototype = controller.prototype as Record<string, unknown>;
      for (const name of Object.getOwnPropertyNames(prototype)) {
        const handler = prototype[name];
        if (name === 'constructor' || typeof handler !== 'function') continue;
        const paths: string[] | undefined = [].concat(Reflect.getMetadata(PATH_METADATA, handler) ?? []);
        const method: RequestMethod | undefined = Reflect.getMetadata(METHOD_METADATA, handler);
        if (method === undefined || paths.length === 0) continue;
        for (const prefix of prefixes) {
          for (const routePath of paths) {
            routes.push({ method: RequestMethod[method].toLowerCase(), path: joinPaths(prefix, routePath).replace(/[:*]([A-Za-z0-9_]+)/g, '{$1}') });
          }
        }
      }
    }
  }
  return routes;
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
