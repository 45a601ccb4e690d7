import { ProblemError, problems } from '../http/problem.ts';
import type { Clock } from '../util/clock.ts';
import { newId } from '../util/ids.ts';
import { DUMMY_HASH, hashPassword, newToken, sha256, verifyPassword } from './crypto.ts';
import type { PortalMailer } from './mail.ts';
import type { CustomersPort } from './ports.ts';
import { LoginThrottle } from './ratelimit.ts';
import type { PortalRepo, UserRow } from './repo.ts';

/**
 * Portal accounts: sign up (creates the organisation), log in/out, sessions, password reset by
 * email, organisation members. Session, reset and invitation tokens are random; only their
 * SHA-256 is stored.
 */
export const SESSION_TTL_MS = 14 * 24 * 3600_000;
const RESET_TTL_MS = 3600_000;
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

export interface AuthDeps {
  repo: PortalRepo;
  clock: Clock;
  mailer: PortalMailer;
  customers?: CustomersPort;
  /** Builds absolute portal links for emails, e.g. `/reset?token=…`. */
  link(path: string): string;
  brandName: string;
  throttle?: LoginThrottle;
}

export function authService(deps: AuthDeps) {
  const { repo, clock, mailer } = deps;
  const throttle = deps.throttle ?? new LoginThrottle();

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

  return {
    async signup(input: { email: string; name: string; password: string; organisation: string }) {
      if (await repo.userByEmail(input.email)) {
        throw problems.conflict('An account with this email already exists. Log in or reset your password.');
      }
      const customerId = await createOrganisation(input.organisation, input.email);
      const row: Omit<UserRow, 'created_at'> = {
        id: newId('usr'),
        customer_id: customerId,
        email: input.email,
        name: input.name,
        password_hash: await hashPassword(input.password),
        role: 'owner',
      };
      await repo.insertUser(row);
      const user = (await repo.userById(row.id))!;
      return { user: toUser(user), session: await startSession(user) };
    },

    async login(input: { email: string; password: string; ip: string }) {
      const key = `${input.email.toLowerCase()}|${input.ip}`;
      const now = clock.now().getTime();
      const wait = throttle.retryAfter(key, now);
      if (wait > 0) {
        throw new ProblemError({
          status: 429,
          type: 'too-many-login-attempts',
          title: 'Too many login attempts',
          detail: `Too many failed attempts for this email from your address. Try again in ${wait} s or reset your password.`,
          headers: { 'retry-after': String(wait) },
          extensions: { retryAfter: wait },
        });
      }
      const user = await repo.userByEmail(input.email);
      const ok = await verifyPassword(input.password, user?.password_hash ?? DUMMY_HASH);
      if (!user || !ok) {
        throttle.fail(key, now);
        throw problems.unauthorized('Email or password is wrong.');
      }
      throttle.succeed(key);
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

    /** Always answers the same way, whether the email is known or not. */
    async forgotPassword(email: string) {
      const user = await repo.userByEmail(email);
      if (!user) return;
      const token = newToken();
      await repo.insertReset(sha256(token), user.id, new Date(clock.now().getTime() + RESET_TTL_MS));
      await mailer.send({
        to: user.email,
        subject: `Reset your ${deps.brandName} password`,
        text: `Hello ${user.name},\n\nSomeone asked to reset the password of your ${deps.brandName} account.\nOpen this link within an hour to choose a new one:\n\n${deps.link(`/reset-password?token=${token}`)}\n\nIf it was not you, ignore this message; your password stays as it is.\n`,
      });
    },

    async resetPassword(token: string, password: string) {
      const reset = await repo.consumeReset(sha256(token), clock.now());
      if (!reset)
        throw problems.badRequest('This reset link is invalid, used or expired. Ask for a new one.');
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
      if (session.user.role !== 'owner') throw problems.forbidden('Only owners can invite members.');
      if (await repo.userByEmail(input.email)) {
        throw problems.conflict(
          'This email already has an account; each account belongs to one organisation.',
        );
      }
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
      await mailer.send({
        to: input.email,
        subject: `${session.user.name} invited you to ${deps.brandName}`,
        text: `Hello,\n\n${session.user.name} (${session.user.email}) invited you to join their organisation on ${deps.brandName}.\nAccept within 7 days:\n\n${deps.link(`/accept-invite?token=${token}`)}\n`,
      });
      return { id };
    },

    async acceptInvitation(input: { token: string; name: string; password: string }) {
      const invitation = await repo.consumeInvitation(sha256(input.token), clock.now());
      if (!invitation) throw problems.badRequest('This invitation is invalid, used or expired.');
      if (await repo.userByEmail(invitation.email))
        throw problems.conflict('This email already has an account.');
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
        throw problems.forbidden('Only owners can remove other members.');
      }
      const target = await repo.userById(userId);
      if (!target || target.customer_id !== session.customerId) throw problems.notFound('No such member.');
      if (target.role === 'owner' && (await repo.countOwners(session.customerId)) <= 1) {
        throw problems.conflict('An organisation keeps at least one owner. Make someone else owner first.');
      }
      await repo.deleteSessionsOf(userId);
      await repo.deleteMember(session.customerId, userId);
    },

    async revokeInvitation(session: SessionInfo, id: string) {
      if (session.user.role !== 'owner') throw problems.forbidden('Only owners can revoke invitations.');
      const deleted = await repo.deleteInvitation(session.customerId, id);
      if (deleted.length === 0) throw problems.notFound('No such invitation.');
    },
  };
}

export type AuthService = ReturnType<typeof authService>;
