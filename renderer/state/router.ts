// A tiny hash router: '#/system' -> 'system'. Hash routing works the same from file:// in
// Electron and over http in `hukuk serve`, and needs nothing from the server.
import { useSyncExternalStore } from 'react';

export const routes = ['models', 'datasets', 'runs', 'new-run', 'chat', 'settings', 'system'] as const;
export type Route = (typeof routes)[number];
export const defaultRoute: Route = 'models';

export function parseHash(hash: string): Route {
  const name = hash.replace(/^#\/?/, '').split(/[/?]/)[0];
  return (routes as readonly string[]).includes(name) ? (name as Route) : defaultRoute;
}

function subscribe(onChange: () => void): () => void {
  window.addEventListener('hashchange', onChange);
  return () => window.removeEventListener('hashchange', onChange);
}

export function useRoute(): Route {
  return useSyncExternalStore(subscribe, () => parseHash(location.hash));
}

/** The part after the page: '#/runs/12' -> '12' (null when absent). */
export function parseParam(hash: string): string | null {
  const parts = hash.replace(/^#\/?/, '').split('/');
  return parts.length > 1 && parts[1] !== '' ? decodeURIComponent(parts[1]) : null;
}

export function useRouteParam(): string | null {
  return useSyncExternalStore(subscribe, () => parseParam(location.hash));
}

export function navigate(route: Route, param?: string | number): void {
  location.hash = param === undefined ? `#/${route}` : `#/${route}/${encodeURIComponent(String(param))}`;
}

export function hrefOf(route: Route): string {
  return `#/${route}`;
}
