import { ZxcvbnFactory } from '@zxcvbn-ts/core';
import { adjacencyGraphs, dictionary } from '@zxcvbn-ts/language-common';
import { AccountError } from './errors.ts';

/**
 * What a new password must be, after NIST SP 800-63B-4 §3.1.1.2: at least 15 characters (it is
 * the only factor), at most 200, no composition rules; refused when it is the account's own
 * e-mail address, a commonly used or breached password (zxcvbn-ts's maintained list of about
 * 49,000), or otherwise easy to guess (zxcvbn score below 3: repeats, sequences, keyboard walks,
 * words built from the user's own e-mail).
 */
export const PASSWORD_MIN_LENGTH = 15;
export const PASSWORD_MAX_LENGTH = 200;
const MIN_SCORE = 3;

const estimator = new ZxcvbnFactory({ dictionary, graphs: adjacencyGraphs });
const common = new Set(dictionary['passwords-common'].map((p) => p.toLowerCase()));

/** zxcvbn-ts's warning keys, said in plain words. */
const WARNINGS: Record<string, string> = {
  straightRow: 'a row of keys on the keyboard is easy to guess',
  keyPattern: 'a short keyboard pattern is easy to guess',
  simpleRepeat: 'repeated characters like "aaa" are easy to guess',
  extendedRepeat: 'repeated patterns like "abcabc" are easy to guess',
  sequences: 'sequences like "abc" or "6543" are easy to guess',
  recentYears: 'recent years are easy to guess',
  dates: 'dates are easy to guess',
  topTen: 'this is one of the most used passwords',
  topHundred: 'this is a very often used password',
  common: 'this is a commonly used password',
  similarToCommon: 'this is too close to a commonly used password',
  wordByItself: 'a single word is easy to guess',
  namesByThemselves: 'a single name is easy to guess',
  commonNames: 'common names are easy to guess',
  userInputs: 'it must not contain your e-mail address',
  pwned: 'this password has appeared in a data breach',
};

/** The rule a password breaks, or null. `email` is the account's address. */
export function passwordProblem(password: string, email: string): string | null {
  const length = [...password].length;
  if (length < PASSWORD_MIN_LENGTH) return `use at least ${PASSWORD_MIN_LENGTH} characters`;
  if (length > PASSWORD_MAX_LENGTH) return `use at most ${PASSWORD_MAX_LENGTH} characters`;
  const lower = password.toLowerCase();
  const address = email.toLowerCase();
  const local = address.split('@')[0] ?? '';
  if (lower === address || lower.includes(address) || (local.length >= 4 && lower === local)) {
    return 'must not be your e-mail address';
  }
  if (common.has(lower)) return 'this is a commonly used password (it appears in lists attackers try first)';
  const result = estimator.check(password, [address, local]);
  if (result.score < MIN_SCORE) {
    const why = result.feedback.warning ? WARNINGS[result.feedback.warning] : undefined;
    return `too easy to guess${why ? `: ${why}` : ''}; a few unrelated words make a strong password`;
  }
  return null;
}

/** Throws an `invalid` AccountError naming the field and the rule broken. */
export function assertPasswordAllowed(password: string, email: string, field = 'password'): void {
  const problem = passwordProblem(password, email);
  if (problem)
    throw new AccountError('invalid', `${field}: ${problem}`, {
      fields: [{ path: field, message: problem }],
    });
}
