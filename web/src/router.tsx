import type { JSX } from 'preact';
import { useEffect, useState } from 'preact/hooks';

/** A small History API router: the API answers index.html for every console page (ConsoleController). */
const listeners = new Set<() => void>();
const notify = () => listeners.forEach((listener) => listener());
window.addEventListener('popstate', notify);

export function navigate(to: string, options: { replace?: boolean } = {}): void {
  if (to === `${location.pathname}${location.search}`) return;
  if (options.replace) history.replaceState(null, '', to);
  else history.pushState(null, '', to);
  notify();
}

export interface Location {
  path: string;
  query: URLSearchParams;
}

export function useLocation(): Location {
  const [, setVersion] = useState(0);
  useEffect(() => {
    const listener = () => setVersion((version) => version + 1);
    listeners.add(listener);
    return () => listeners.delete(listener);
  }, []);
  return { path: location.pathname, query: new URLSearchParams(location.search) };
}

/** Replaces query parameters of the current page (filters, paging) without a history entry per keystroke. */
export function setQuery(changes: Record<string, string | number | undefined>): void {
  const params = new URLSearchParams(location.search);
  for (const [name, value] of Object.entries(changes)) {
    if (value === undefined || value === '') params.delete(name);
    else params.set(name, String(value));
  }
  const text = params.toString();
  navigate(`${location.pathname}${text ? `?${text}` : ''}`, { replace: true });
}

type AnchorProps = JSX.HTMLAttributes<HTMLAnchorElement> & { href: string };

/** An ordinary link (middle click, copy link and keyboard work) that the router follows without a reload. */
export function Link(props: AnchorProps) {
  const { onClick, ...rest } = props;
  return (
    <a
      {...rest}
      onClick={(event) => {
        onClick?.(event);
        if (event.defaultPrevented || event.button !== 0 || event.currentTarget.target) return;
        if (event.metaKey || event.ctrlKey || event.shiftKey || event.altKey) return;
        event.preventDefault();
        navigate(props.href);
      }}
    />
  );
}
