import type { Clock } from '../util/clock.ts';
import { newId } from '../util/ids.ts';
import type { Logger } from '../util/log.ts';
import type { CustomersPort } from './dependencies.ts';
import { AccountError } from './errors.ts';
import { type LoginAttempts, LoginThrottle } from './login-throttle.ts';
import { DUMMY_HASH, hashPassword, needsRehash, verifyPassword } from './password-hash.ts';
import { assertPasswordAllowed } from './password-policy.ts';
import type { PortalMailer } from './portal-mailer.ts';
import type { PortalRepo, UserRow } from './repo.ts';
import { newToken, sha256 } from './tokens.ts';

/**
 * Portal accounts: sign up (creates the organisation), log in/out, sessions, password reset by
 * email, organisation members. Session, reset and invitation tokens are random; only their
 * SHA-256 is stored.
 */
export const SESSION_TTL_MS = 14 * 24 * 3600_000;
const RESET_TTL_MS = 3600_000;
/** How long a sign-up's confirmation link works. */
const SIGNUP_TTL_MS = 24 * 3600_000;
const INVITE_TTL_MS = 7 * 24 * 3600_000;

export interface PortalUser {
  id: string;
  email: string;
  name: string;
  role: 'owner' | 'member';
  customerId: string;
  createdAt: string;
}

export interface SessionInfo {
  user: PortalUser;
  customerId: string;
  tokenHash: string;
}

export function toUser(row: UserRow): PortalUser {
  return {
    id: row.id,
    email: row.email,
    name: row.name,
    role: row.role,
    customerId: row.customer_id,
    createdAt: new Date(row.created_at).toISOString(),
  };
}

/** Portal accounts: who may sign in, their sessions and their organisation's members. */
export interface AccountService {
  /**
   * Answers alike for every address, after the same password hash: a new address gets a link to
   * confirm it (the account exists from then on); one with an account gets a note instead.
   */
  signup(input: { email: string; name: string; password: string; organisation: string }): Promise<void>;
  /** Opens a sign-up's confirmation link (once, within 24 hours): creates the account, signs in. */
  verifyEmail(token: string): Promise<SignedIn>;
  /** Throttled per account and address before the password is checked (login-throttle.ts). */
  login(input: { email: string; password: string; ip: string }): Promise<SignedIn>;
  logout(tokenHash: string): Promise<void>;
  /** The session for a raw cookie token, or null if unknown or expired. */
  session(token: string): Promise<SessionInfo | null>;
  /** Answers at once and alike for every address; the mail (if any) follows. */
  forgotPassword(email: string): void;
  resetPassword(token: string, password: string): Promise<SignedIn>;
  members(customerId: string): Promise<{ members: PortalUser[]; invitations: InvitationView[] }>;
  invite(session: SessionInfo, input: { email: string; role: 'owner' | 'member' }): Promise<{ id: string }>;
  acceptInvitation(input: { token: string; name: string; password: string }): Promise<SignedIn>;
  removeMember(session: SessionInfo, userId: string): Promise<void>;
  revokeInvitation(session: SessionInfo, id: string): Promise<void>;
}

export interface SignedIn {
  user: PortalUser;
  session: { token: string; expiresAt: Date };
}

export interface InvitationView {
  id: string;
  email: string;
  role: string;
  createdAt: string;
  expiresAt: string;
}

export interface AccountDeps {
  repo: PortalRepo;
  clock: Clock;
  mailer: PortalMailer;
  customers?: CustomersPort;
  /** Builds absolute portal links for emails, e.g. `/reset?token=…`. */
  link(path: string): string;
  brandName: string;
  throttle?: LoginAttempts;
  /** For mail sent after the answer (reset, invitation); never given the tokens. */
  log?: Logger;
}

export function createAccountService(deps: AccountDeps): AccountService {
  const { repo, clock, mailer } = deps;
  const throttle = deps.throttle ?? new LoginThrottle();

  /**
   * Work whose duration would tell whether an address has an account (mail to send, a reset to
   * store) runs after the answer, so known and unknown addresses are answered alike and as fast.
   */
  function afterAnswer(what: string, work: () => Promise<void>): void {
    setImmediate(() => {
      work().catch((error) => deps.log?.error({ err: error }, `${what} failed`));
    });
  }

  async function startSession(user: UserRow): Promise<{ token: string; expiresAt: Date }> {
    const token = newToken();
    const expiresAt = new Date(clock.now().getTime() + SESSION_TTL_MS);
    await repo.insertSession({
      token_hash: sha256(token),
      user_id: user.id,
      customer_id: user.customer_id,
      expires_at: expiresAt,
    });
    return { token, expiresAt };
  }

  async function createOrganisation(name: string, email: string): Promise<string> {
    if (deps.customers) return (await deps.customers.create({ name, email })).id;
    const id = newId('cus');
    await repo.createOrganisation(id, name, email);
    return id;
  }

  /** To the owner of an address someone tried to sign up with. */
  function signupAttemptMail(email: string) {
    return {
      to: email,
      subject: `Someone tried to sign up to ${deps.brandName} with your address`,
      text: `Hello,\n\nSomeone tried to create a ${deps.brandName} account with this address, which already has one.\nIf it was you, log in instead, or reset your password:\n\n${deps.link('/forgot-password')}\n\nIf it was not you, you can ignore this message; nothing was changed.\n`,
    };
  }

  /** To a new address: the link that confirms it and creates the account. */
  function confirmMail(email: string, name: string, token: string) {
    return {
      to: email,
      subject: `Confirm your email address for ${deps.brandName}`,
      text: `Hello ${name},\n\nOpen this link within 24 hours to confirm your address and finish creating your ${deps.brandName} account:\n\n${deps.link(`/verify?token=${token}`)}\n\nIf you did not sign up, ignore this message; no account is created.\n`,
    };
  }

  return {
    async signup(input: { email: string; name: string; password: string; organisation: string }) {
      assertPasswordAllowed(input.password, input.email);
      // The expensive step runs for every address before the answer, so its timing tells nothing;
      // whether the address has an account is looked up after the answer.
      const passwordHash = await hashPassword(input.password);
      afterAnswer('sign-up mail', async () => {
        await repo.deleteExpiredSignups(clock.now());
        if (await repo.userByEmail(input.email)) {
          // The owner hears of it; nothing about the account changes.
          await mailer.send(signupAttemptMail(input.email));
          return;
        }
        const token = newToken();
        await repo.insertSignup({
          token_hash: sha256(token),
          email: input.email,
          name: input.name,
          organisation: input.organisation,
          password_hash: passwordHash,
          expires_at: new Date(clock.now().getTime() + SIGNUP_TTL_MS),
        });
        await mailer.send(confirmMail(input.email, input.name, token));
      });
    },

    async verifyEmail(token: string) {
      const signup = await repo.consumeSignup(sha256(token), clock.now());
      if (!signup)
        throw new AccountError(
          'bad-token',
          'This confirmation link is invalid, used or expired. Sign up again.',
        );
      // Another sign-up or an invitation for the address was completed first.
      if (await repo.userByEmail(signup.email))
        throw new AccountError(
          'bad-token',
          'This address already has an account. Log in or reset your password.',
        );
      const customerId = await createOrganisation(signup.organisation, signup.email);
      const row: Omit<UserRow, 'created_at'> = {
        id: newId('usr'),
        customer_id: customerId,
        email: signup.email,
        name: signup.name,
        password_hash: signup.password_hash,
        role: 'owner',
      };
      await repo.insertUser(row);
      await repo.forgetSignupPassword(sha256(token));
      const user = (await repo.userById(row.id))!;
      return { user: toUser(user), session: await startSession(user) };
    },

    async login(input: { email: string; password: string; ip: string }) {
      // Counted before the hash, in one step (synchronous in process, one script in Redis):
      // parallel guesses cannot all pass the check.
      const wait = await throttle.attempt(input.email, input.ip, clock.now().getTime());
      if (wait > 0) {
        throw new AccountError(
          'throttled',
          `Too many login attempts for this account or from your address. Try again in ${wait} s or reset your password.`,
          { retryAfterSeconds: wait },
        );
      }
      const user = await repo.userByEmail(input.email);
      const ok = await verifyPassword(input.password, user?.password_hash ?? DUMMY_HASH);
      if (!user || !ok) throw new AccountError('wrong-credentials', 'Email or password is wrong.');
      await throttle.succeeded(input.email, input.ip);
      // Hashes made at an older, cheaper cost are upgraded now that the password is known.
      if (needsRehash(user.password_hash))
        await repo.setPassword(user.id, await hashPassword(input.password));
      return { user: toUser(user), session: await startSession(user) };
    },

    async logout(tokenHash: string) {
      await repo.deleteSession(tokenHash);
    },

    /** The session for a raw cookie token, or null if unknown or expired. */
    async session(token: string): Promise<SessionInfo | null> {
      const tokenHash = sha256(token);
      const session = await repo.session(tokenHash);
      if (!session) return null;
      if (new Date(session.expires_at).getTime() <= clock.now().getTime()) {
        await repo.deleteSession(tokenHash);
        return null;
      }
      const user = await repo.userById(session.user_id);
      if (!user) return null;
      return { user: toUser(user), customerId: user.customer_id, tokenHash };
    },

    /** Answers at once and alike for every address; the lookup and the mail follow the answer. */
    forgotPassword(email: string): void {
      afterAnswer('password reset mail', async () => {
        const user = await repo.userByEmail(email);
        if (!user) return;
        const token = newToken();
        await repo.insertReset(sha256(token), user.id, new Date(clock.now().getTime() + RESET_TTL_MS));
        await mailer.send({
          to: user.email,
          subject: `Reset your ${deps.brandName} password`,
          text: `Hello ${user.name},\n\nSomeone asked to reset the password of your ${deps.brandName} account.\nOpen this link within an hour to choose a new one:\n\n${deps.link(`/reset-password?token=${token}`)}\n\nIf it was not you, ignore this message; your password stays as it is.\n`,
        });
      });
    },

    async resetPassword(token: string, password: string) {
      const reset = await repo.peekReset(sha256(token), clock.now());
      if (!reset)
        throw new AccountError(
          'bad-token',
          'This reset link is invalid, used or expired. Ask for a new one.',
        );
      const owner = await repo.userById(reset.user_id);
      if (owner) assertPasswordAllowed(password, owner.email);
      if (!(await repo.consumeReset(sha256(token), clock.now())))
        throw new AccountError(
          'bad-token',
          'This reset link is invalid, used or expired. Ask for a new one.',
        );
      await repo.setPassword(reset.user_id, await hashPassword(password));
      await repo.deleteSessionsOf(reset.user_id);
      const user = (await repo.userById(reset.user_id))!;
      return { user: toUser(user), session: await startSession(user) };
    },

    async members(customerId: string) {
      const [users, invitations] = await Promise.all([
        repo.members(customerId),
        repo.invitations(customerId),
      ]);
      return {
        members: users.map(toUser),
        invitations: invitations.map((i) => ({
          id: i.id,
          email: i.email,
          role: i.role,
          createdAt: new Date(i.created_at).toISOString(),
          expiresAt: new Date(i.expires_at).toISOString(),
        })),
      };
    },

    async invite(session: SessionInfo, input: { email: string; role: 'owner' | 'member' }) {
      if (session.user.role !== 'owner')
        throw new AccountError('not-owner', 'Only owners can invite members.');
      // Invited alike whether or not the address has an account (the answer must not tell); an
      // address that has one is told so by mail instead of getting a link it could not use.
      const token = newToken();
      const id = newId('inv');
      await repo.insertInvitation({
        id,
        customer_id: session.customerId,
        email: input.email,
        role: input.role,
        token_hash: sha256(token),
        invited_by: session.user.id,
        expires_at: new Date(clock.now().getTime() + INVITE_TTL_MS),
      });
      afterAnswer('invitation mail', async () => {
        const hasAccount = Boolean(await repo.userByEmail(input.email));
        await mailer.send(
          hasAccount
            ? {
                to: input.email,
                subject: `${session.user.name} tried to invite you to ${deps.brandName}`,
                text: `Hello,\n\n${session.user.name} (${session.user.email}) tried to invite this address to their organisation on ${deps.brandName}.\nThis address already has an account, and each account belongs to one organisation, so there is nothing to accept. Reply to them with another address if you want to join.\n`,
              }
            : {
                to: input.email,
                subject: `${session.user.name} invited you to ${deps.brandName}`,
                text: `Hello,\n\n${session.user.name} (${session.user.email}) invited you to join their organisation on ${deps.brandName}.\nAccept within 7 days:\n\n${deps.link(`/accept-invite?token=${token}`)}\n`,
              },
        );
      });
      return { id };
    },

    async acceptInvitation(input: { token: string; name: string; password: string }) {
      const pending = await repo.peekInvitation(sha256(input.token), clock.now());
      if (pending) assertPasswordAllowed(input.password, pending.email);
      const invitation = await repo.consumeInvitation(sha256(input.token), clock.now());
      if (!invitation) throw new AccountError('bad-token', 'This invitation is invalid, used or expired.');
      if (await repo.userByEmail(invitation.email))
        throw new AccountError('conflict', 'This email already has an account.');
      const row: Omit<UserRow, 'created_at'> = {
        id: newId('usr'),
        customer_id: invitation.customer_id,
        email: invitation.email,
        name: input.name,
        password_hash: await hashPassword(input.password),
        role: invitation.role,
      };
      await repo.insertUser(row);
      const user = (await repo.userById(row.id))!;
      return { user: toUser(user), session: await startSession(user) };
    },

    async removeMember(session: SessionInfo, userId: string) {
      if (session.user.role !== 'owner' && session.user.id !== userId) {
        throw new AccountError('not-owner', 'Only owners can remove other members.');
      }
      const target = await repo.userById(userId);
      if (!target || target.customer_id !== session.customerId)
        throw new AccountError('not-found', 'No such member.');
      if (target.role === 'owner' && (await repo.countOwners(session.customerId)) <= 1) {
        throw new AccountError(
          'conflict',
          'An organisation keeps at least one owner. Make someone else owner first.',
        );
      }
      await repo.deleteSessionsOf(userId);
      await repo.deleteMember(session.customerId, userId);
    },

    async revokeInvitation(session: SessionInfo, id: string) {
      if (session.user.role !== 'owner')
        throw new AccountError('not-owner', 'Only owners can revoke invitations.');
      const deleted = await repo.deleteInvitation(session.customerId, id);
      if (deleted.length === 0) throw new AccountError('not-found', 'No such invitation.');
    },
  };
}
