import { type INestApplication, RequestMethod } from '@nestjs/common';
import { METHOD_METADATA, PATH_METADATA } from '@nestjs/common/constants';
import { ModulesContainer } from '@nestjs/core';
import { IS_PUBLIC_ROUTE } from './public.decorator';

export interface RouteAccess {
  method: string;
  /** OpenAPI style: `:id` -> `{id}`, `*path` -> `{path}`. */
  path: string;
  /** `Controller_method`, the operation id of the OpenAPI document. */
  operationId: string;
  /** What protects a @Public() route instead of the API key; undefined when the key is needed. */
  publicCredential?: string;
}

const joinPaths = (...parts: Array<string | undefined>) =>
  `/${parts
    .flatMap((part) => (part ?? '').split('/'))
    .filter(Boolean)
    .join('/')}`;

export function operationIdOf(controllerName: string, methodName: string): string {
  return `${controllerName.replace(/Controller$/, '')}_${methodName}`;
}

/**
 * Every route handler of every controller in the app, from Nest's module container and route metadata, with
 * whether it needs the API key (the same metadata ApiKeyGuard reads): controllers added later are included.
 */
export function routeAccess(app: INestApplication): RouteAccess[] {
  const routes: RouteAccess[] = [];
  for (const module of app.get(ModulesContainer).values()) {
    for (const wrapper of module.controllers.values()) {
      const controller = wrapper.metatype as (new (...args: never[]) => unknown) | null;
      if (!controller) continue;
      const prefixes = ([] as string[]).concat(Reflect.getMetadata(PATH_METADATA, controller) ?? '');
      const prototype = controller.prototype as Record<string, unknown>;
      for (const name of Object.getOwnPropertyNames(prototype)) {
        const handler = prototype[name];
        if (name === 'constructor' || typeof handler !== 'function') continue;
        const paths: string[] = [].concat(Reflect.getMetadata(PATH_METADATA, handler) ?? []);
        const method: RequestMethod | undefined = Reflect.getMetadata(METHOD_METADATA, handler);
        if (method === undefined || paths.length === 0) continue;
        const publicCredential: string | undefined =
          Reflect.getMetadata(IS_PUBLIC_ROUTE, handler) ?? Reflect.getMetadata(IS_PUBLIC_ROUTE, controller);
        for (const prefix of prefixes) {
          for (const routePath of paths) {
            routes.push({
              method: RequestMethod[method].toLowerCase(),
              path: joinPaths(prefix, routePath).replace(/[:*]([A-Za-z0-9_]+)/g, '{$1}'),
              operationId: operationIdOf(controller.name, name),
              publicCredential,
            });
          }
        }
      }
    }
  }
  return routes;
}
