import { useState } from 'preact/hooks';
import { ApiError, request } from '../api';
import { describedBy, Field, useTitle } from '../components/ui';
import { navigate, useLocation } from '../router';
import { signIn } from '../session';

/** Where to go after signing in: only paths of this console (no open redirect through ?next=). */
function nextPath(query: URLSearchParams): string {
  const next = query.get('next') ?? '';
  return /^\/(?!\/)/.test(next) && !next.startsWith('/sign-in') && next !== '/' ? next : '/inferences';
}

export function SignInPage() {
  useTitle('Sign in');
  const { query } = useLocation();
  const [key, setKey] = useState('');
  const [error, setError] = useState<string | undefined>(
    query.get('refused') ? 'The API refused the key; sign in again.' : undefined,
  );
  const [busy, setBusy] = useState(false);

  const submit = async (event: Event) => {
    event.preventDefault();
    const candidate = key.trim();
    if (!candidate) return setError('Enter an API key.');
    setBusy(true);
    setError(undefined);
    try {
      // Any key-protected read tells whether the key is valid.
      await request('GET', '/api/v2/models', { query: { limit: 1 }, key: candidate });
      signIn(candidate);
      navigate(nextPath(query), { replace: true });
    } catch (failure) {
      setError(
        failure instanceof ApiError && failure.status === 401
          ? 'This API key was refused.'
          : (failure as Error).message,
      );
    } finally {
      setBusy(false);
    }
  };

  return (
    <section class="card sign-in">
      <h1 tabIndex={-1}>
        <span class="brand-mark" aria-hidden="true" /> geo-inference
      </h1>
      <p>Sign in with an API key. It is kept for this browser tab only and sent with each request to the API.</p>
      <form onSubmit={submit} noValidate>
        <Field id="api-key" label="API key" error={error}>
          <input
            type="password"
            autocomplete="current-password"
            value={key}
            onInput={(event) => setKey(event.currentTarget.value)}
            {...describedBy('api-key', error)}
            autoFocus
          />
        </Field>
        <button type="submit" class="button button-primary" disabled={busy}>
          {busy ? 'Checking…' : 'Sign in'}
        </button>
      </form>
    </section>
  );
}
