import { ApiError } from '../api.ts';
import { usePortalMutation } from '../query.ts';
import { ErrorNotice } from '../ui.tsx';

export interface FormState {
  busy: boolean;
  error: unknown;
  /** Field → message from a problem+json `errors` list: shown under the field, not above the form. */
  fields: Record<string, string>;
  /** The success message of the last run, if it had one. */
  saved: string | null;
  run(action: () => Promise<unknown>, saved?: string): Promise<void>;
  /** Forgets the last run's error and message. */
  reset(): void;
}

interface Run {
  action: () => Promise<unknown>;
  message?: string;
}

/**
 * A form's submission as a mutation: busy while it runs, then its error or its success message.
 * After every action that succeeded, the reads under `invalidates` (portal paths) are fetched again.
 */
export function useForm(invalidates: string[] = []): FormState {
  const mutation = usePortalMutation(async ({ action, message }: Run) => {
    await action();
    return message ?? null;
  }, invalidates);
  const error = mutation.error;
  return {
    busy: mutation.isPending,
    error,
    fields: error instanceof ApiError ? error.fieldErrors() : {},
    saved: mutation.isSuccess ? mutation.data : null,
    async run(action, message) {
      // The error is the mutation's state, shown by the form; the promise only says it is over.
      await mutation.mutateAsync({ action, message }).catch(() => undefined);
    },
    reset: mutation.reset,
  };
}

/** The form's error, unless its fields show it. */
export function FormError({ form }: { form: Pick<FormState, 'error' | 'fields'> }) {
  return <ErrorNotice error={form.error && Object.keys(form.fields).length === 0 ? form.error : null} />;
}

/** The value of a named input (or select) of an uncontrolled form. */
export function formValue(form: HTMLFormElement, name: string): string {
  return (form.elements.namedItem(name) as HTMLInputElement | null)?.value ?? '';
}
