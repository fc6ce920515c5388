import type { ComponentChildren } from 'preact';
import { useEffect, useRef, useState } from 'preact/hooks';
import { Link } from '../router';

export function useTitle(title: string): void {
  useEffect(() => {
    document.title = `${title} · geo-inference`;
  }, [title]);
}

export interface Loaded<T> {
  data?: T;
  error?: string;
  loading: boolean;
  reload: () => void;
}

/** Loads once per change of `deps`; a later answer replaces an earlier one, never the other way round. */
export function useLoad<T>(load: (signal: AbortSignal) => Promise<T>, deps: unknown[]): Loaded<T> {
  const [state, setState] = useState<{ data?: T; error?: string; loading: boolean }>({ loading: true });
  const [version, setVersion] = useState(0);
  useEffect(() => {
    const controller = new AbortController();
    setState((previous) => ({ ...previous, loading: true }));
    load(controller.signal).then(
      (data) => !controller.signal.aborted && setState({ data, loading: false }),
      (error: Error) =>
        !controller.signal.aborted && setState((previous) => ({ ...previous, error: error.message, loading: false })),
    );
    return () => controller.abort();
  }, [...deps, version]);
  return { ...state, reload: () => setVersion((value) => value + 1) };
}

const STATUS_LABELS: Record<string, string> = { FINISHED: 'Finished', WAITING: 'Waiting' };

export function StatusBadge({ status }: { status: string }) {
  const label = STATUS_LABELS[status] ?? status.charAt(0) + status.slice(1).toLowerCase();
  return (
    <span class={`badge badge-${status.toLowerCase()}`} data-status={status}>
      {label}
    </span>
  );
}

export function ErrorNote({ message, title }: { message: string | undefined; title?: string }) {
  if (!message) return null;
  return (
    <div class="note note-error" role="alert">
      {title ? <strong>{title}: </strong> : null}
      {message}
    </div>
  );
}

export function Note({ children, kind = 'info' }: { children: ComponentChildren; kind?: 'info' | 'success' }) {
  return (
    <div class={`note note-${kind}`} role="status">
      {children}
    </div>
  );
}

/** A labelled progress bar; without `value` it shows that work goes on without saying how much. */
export function Progress({
  value,
  max = 1,
  label,
  text,
}: {
  value?: number;
  max?: number;
  label: string;
  text?: string;
}) {
  return (
    <div class="progress">
      <progress aria-label={label} value={value} max={max} />
      {text ? <span class="progress-text">{text}</span> : null}
    </div>
  );
}

/** A form control with its label, hint and the API's message for that field. */
export function Field({
  id,
  label,
  hint,
  error,
  children,
  wide,
}: {
  id: string;
  label: string;
  hint?: ComponentChildren;
  error?: string;
  children: ComponentChildren;
  wide?: boolean;
}) {
  return (
    <div class={`field${error ? ' field-invalid' : ''}${wide ? ' field-wide' : ''}`}>
      <label for={id}>{label}</label>
      {children}
      {hint ? (
        <div class="hint" id={`${id}-hint`}>
          {hint}
        </div>
      ) : null}
      {error ? (
        <div class="field-error" id={`${id}-error`} data-field-error={id}>
          {error}
        </div>
      ) : null}
    </div>
  );
}

/** aria attributes of a control inside <Field>. */
export function describedBy(
  id: string,
  error?: string,
  hint = false,
): { id: string; 'aria-invalid'?: 'true'; 'aria-describedby'?: string } {
  const ids = [hint ? `${id}-hint` : '', error ? `${id}-error` : ''].filter(Boolean).join(' ');
  return { id, 'aria-invalid': error ? 'true' : undefined, 'aria-describedby': ids || undefined };
}

export function Pager({
  offset,
  limit,
  total,
  onPage,
}: {
  offset: number;
  limit: number;
  total: number;
  onPage: (offset: number) => void;
}) {
  if (total <= limit && offset === 0) return null;
  const last = Math.min(offset + limit, total);
  return (
    <nav class="pager" aria-label="Pages">
      <button type="button" class="button" disabled={offset === 0} onClick={() => onPage(Math.max(0, offset - limit))}>
        ← Previous
      </button>
      <span>
        {total === 0 ? 0 : offset + 1}–{last} of {total}
      </span>
      <button type="button" class="button" disabled={last >= total} onClick={() => onPage(offset + limit)}>
        Next →
      </button>
    </nav>
  );
}

/** A button that asks "are you sure" in place (no modal to trap focus in). */
export function ConfirmButton({
  label,
  confirmLabel,
  onConfirm,
  disabled,
  kind = 'danger',
}: {
  label: string;
  confirmLabel: string;
  onConfirm: () => void;
  disabled?: boolean;
  kind?: 'danger' | 'secondary';
}) {
  const [asking, setAsking] = useState(false);
  const confirmRef = useRef<HTMLButtonElement>(null);
  useEffect(() => {
    if (asking) confirmRef.current?.focus();
  }, [asking]);
  if (!asking)
    return (
      <button type="button" class={`button button-${kind}`} disabled={disabled} onClick={() => setAsking(true)}>
        {label}
      </button>
    );
  return (
    <span class="confirm" role="group" aria-label={label}>
      <button
        type="button"
        ref={confirmRef}
        class={`button button-${kind}`}
        onClick={() => {
          setAsking(false);
          onConfirm();
        }}
      >
        {confirmLabel}
      </button>
      <button type="button" class="button" onClick={() => setAsking(false)}>
        Cancel
      </button>
    </span>
  );
}

export function PageHeader({
  title,
  children,
  back,
}: {
  title: ComponentChildren;
  children?: ComponentChildren;
  back?: { href: string; label: string };
}) {
  return (
    <header class="page-header">
      <div>
        {back ? (
          <Link class="back" href={back.href}>
            ← {back.label}
          </Link>
        ) : null}
        <h1 tabIndex={-1}>{title}</h1>
      </div>
      {children ? <div class="actions">{children}</div> : null}
    </header>
  );
}

export function Json({ value, label }: { value: unknown; label: string }) {
  return (
    <pre class="code" tabIndex={0} aria-label={label}>
      {JSON.stringify(value, null, 2)}
    </pre>
  );
}

/** Splits "field.path: message" (the API's message format) into the part to show next to the field. */
export function messageFor(message: string, field: string | undefined): string {
  if (field && message.startsWith(`${field}: `)) return message.slice(field.length + 2);
  return message;
}
