import { useState } from 'react';
import { ApiError } from '../api.ts';
import { ErrorNotice } from '../ui.tsx';

export interface FormState {
  busy: boolean;
  error: unknown;
  /** Field → message from a problem+json `errors` list: shown under the field, not above the form. */
  fields: Record<string, string>;
  /** The success message of the last run, if it had one. */
  saved: string | null;
  run(action: () => Promise<unknown>, saved?: string): Promise<void>;
}

/**
 * A form's submission: busy while it runs, then its error or its success message. `onDone` runs
 * after every action that succeeded (e.g. to reload the page's data).
 */
export function useForm(onDone?: () => void): FormState {
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<unknown>(null);
  const [fields, setFields] = useState<Record<string, string>>({});
  const [saved, setSaved] = useState<string | null>(null);
  async function run(action: () => Promise<unknown>, message?: string) {
    setBusy(true);
    setError(null);
    setFields({});
    setSaved(null);
    try {
      await action();
      if (message) setSaved(message);
      onDone?.();
    } catch (e) {
      setError(e);
      if (e instanceof ApiError) setFields(e.fieldErrors());
    } finally {
      setBusy(false);
    }
  }
  return { busy, error, fields, saved, run };
}

/** The form's error, unless its fields show it. */
export function FormError({ form }: { form: Pick<FormState, 'error' | 'fields'> }) {
  return <ErrorNotice error={form.error && Object.keys(form.fields).length === 0 ? form.error : null} />;
}

/** The value of a named input (or select) of an uncontrolled form. */
export function formValue(form: HTMLFormElement, name: string): string {
  return (form.elements.namedItem(name) as HTMLInputElement | null)?.value ?? '';
}
