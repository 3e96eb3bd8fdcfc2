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

export function navigate(route: Route): void {
  location.hash = `#/${route}`;
}

export function hrefOf(route: Route): string {
  return `#/${route}`;
}
