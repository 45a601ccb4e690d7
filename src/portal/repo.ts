import type { Kysely } from 'kysely';
import type { BaseDatabase, Store } from '../store/index.ts';

/** SQL of the portal's own tables (0601_portal.sql). Every organisation-owned row is read by customer_id. */

export interface UserRow {
  id: string;
  customer_id: string;
  email: string;
  name: string;
  password_hash: string;
  role: 'owner' | 'member';
  created_at: Date;
}

export interface SessionRow {
  token_hash: string;
  user_id: string;
  customer_id: string;
  expires_at: Date;
}

export interface AlertRow {
  id: string;
  customer_id: string;
  kind: 'amount' | 'quota_percent';
  threshold: string;
  feature_key: string | null;
  email: boolean;
  webhook_url: string | null;
  webhook_secret: string | null;
  created_at: Date;
}

export interface FiringRow {
  alert_id: string;
  customer_id: string;
  period_start: Date;
  message: string;
  fired_at: Date;
  dismissed_at: Date | null;
}

/** A sign-up waiting for its address to be confirmed (0603_portal_signups.sql). */
export interface SignupRow {
  token_hash: string;
  email: string;
  name: string;
  organisation: string;
  password_hash: string;
  expires_at: Date;
  used_at: Date | null;
}

type SignupTables = { portal_signups: SignupRow };

/** The firing guard's table, typed for Kysely (written inside the transaction of its event). */
type AlertFiringTables = {
  portal_alert_firings: {
    alert_id: string;
    customer_id: string;
    period_start: Date;
    message: string;
  };
};

export function portalRepo(store: Store) {
  const one = async <T>(sql: string, params: unknown[]): Promise<T | null> =>
    (await store.query<T>(sql, params))[0] ?? null;

  return {
    createOrganisation: (id: string, name: string, email: string) =>
      store.query('insert into portal_organisations (id, name, email) values ($1, $2, $3)', [
        id,
        name,
        email,
      ]),
    organisation: (id: string) =>
      one<{ id: string; name: string; email: string }>('select * from portal_organisations where id = $1', [
        id,
      ]),
    organisations: () =>
      store.query<{ id: string; name: string; email: string; created_at: Date }>(
        'select * from portal_organisations order by created_at desc',
      ),

    userByEmail: (email: string) =>
      one<UserRow>('select * from portal_users where lower(email) = lower($1)', [email]),
    userById: (id: string) => one<UserRow>('select * from portal_users where id = $1', [id]),
    insertUser: (u: Omit<UserRow, 'created_at'>) =>
      store.query(
        `insert into portal_users (id, customer_id, email, name, password_hash, role)
         values ($1, $2, $3, $4, $5, $6)`,
        [u.id, u.customer_id, u.email, u.name, u.password_hash, u.role],
      ),
    allOwners: () =>
      store.query<UserRow>(
        `select distinct on (customer_id) * from portal_users where role = 'owner' order by customer_id, created_at`,
      ),
    setPassword: (userId: string, hash: string) =>
      store.query('update portal_users set password_hash = $2 where id = $1', [userId, hash]),
    members: (customerId: string) =>
      store.query<UserRow>('select * from portal_users where customer_id = $1 order by created_at', [
        customerId,
      ]),
    deleteMember: (customerId: string, userId: string) =>
      store.query<{ id: string }>(
        'delete from portal_users where customer_id = $1 and id = $2 returning id',
        [customerId, userId],
      ),
    countOwners: async (customerId: string) =>
      Number(
        (
          await one<{ n: number }>(
            `select count(*)::int as n from portal_users where customer_id = $1 and role = 'owner'`,
            [customerId],
          )
        )?.n ?? 0,
      ),

    insertSession: (s: SessionRow) =>
      store.query(
        'insert into portal_sessions (token_hash, user_id, customer_id, expires_at) values ($1, $2, $3, $4)',
        [s.token_hash, s.user_id, s.customer_id, s.expires_at],
      ),
    session: (tokenHash: string) =>
      one<SessionRow>('select * from portal_sessions where token_hash = $1', [tokenHash]),
    deleteSession: (tokenHash: string) =>
      store.query('delete from portal_sessions where token_hash = $1', [tokenHash]),
    deleteSessionsOf: (userId: string) =>
      store.query('delete from portal_sessions where user_id = $1', [userId]),

    insertReset: (tokenHash: string, userId: string, expiresAt: Date) =>
      store.query(
        'insert into portal_password_resets (token_hash, user_id, expires_at) values ($1, $2, $3)',
        [tokenHash, userId, expiresAt],
      ),
    /** The reset, if unused and not expired, without using it (to check the new password first). */
    peekReset: (tokenHash: string, now: Date) =>
      one<{ user_id: string }>(
        'select user_id from portal_password_resets where token_hash = $1 and used_at is null and expires_at > $2',
        [tokenHash, now],
      ),
    /** Marks the reset used and returns it, only if it was unused and not expired. */
    consumeReset: (tokenHash: string, now: Date) =>
      one<{ user_id: string }>(
        `update portal_password_resets set used_at = $2
         where token_hash = $1 and used_at is null and expires_at > $2 returning user_id`,
        [tokenHash, now],
      ),

    insertSignup: (row: Omit<SignupRow, 'used_at'>) =>
      store.db.withTables<SignupTables>().insertInto('portal_signups').values(row).execute(),
    /** Marks the sign-up used and returns it, only if it was unused and not expired. */
    consumeSignup: async (tokenHash: string, now: Date): Promise<SignupRow | null> =>
      (await store.db
        .withTables<SignupTables>()
        .updateTable('portal_signups')
        .set({ used_at: now })
        .where('token_hash', '=', tokenHash)
        .where('used_at', 'is', null)
        .where('expires_at', '>', now)
        .returningAll()
        .executeTakeFirst()) ?? null,

    /** A used sign-up keeps no password hash: the user row has it. */
    forgetSignupPassword: (tokenHash: string) =>
      store.db
        .withTables<SignupTables>()
        .updateTable('portal_signups')
        .set({ password_hash: '' })
        .where('token_hash', '=', tokenHash)
        .execute(),
    /** Sign-ups whose link expired: nobody can use them, so their password hashes are not kept. */
    deleteExpiredSignups: (now: Date) =>
      store.db
        .withTables<SignupTables>()
        .deleteFrom('portal_signups')
        .where('expires_at', '<=', now)
        .execute(),

    insertInvitation: (i: {
      id: string;
      customer_id: string;
      email: string;
      role: string;
      token_hash: string;
      invited_by: string;
      expires_at: Date;
    }) =>
      store.query(
        `insert into portal_invitations (id, customer_id, email, role, token_hash, invited_by, expires_at)
         values ($1, $2, $3, $4, $5, $6, $7)`,
        [i.id, i.customer_id, i.email, i.role, i.token_hash, i.invited_by, i.expires_at],
      ),
    invitations: (customerId: string) =>
      store.query<{ id: string; email: string; role: string; created_at: Date; expires_at: Date }>(
        `select id, email, role, created_at, expires_at from portal_invitations
         where customer_id = $1 and accepted_at is null order by created_at`,
        [customerId],
      ),
    deleteInvitation: (customerId: string, id: string) =>
      store.query<{ id: string }>(
        'delete from portal_invitations where customer_id = $1 and id = $2 and accepted_at is null returning id',
        [customerId, id],
      ),
    peekInvitation: (tokenHash: string, now: Date) =>
      one<{ email: string }>(
        'select email from portal_invitations where token_hash = $1 and accepted_at is null and expires_at > $2',
        [tokenHash, now],
      ),
    consumeInvitation: (tokenHash: string, now: Date) =>
      one<{ id: string; customer_id: string; email: string; role: 'owner' | 'member' }>(
        `update portal_invitations set accepted_at = $2
         where token_hash = $1 and accepted_at is null and expires_at > $2
         returning id, customer_id, email, role`,
        [tokenHash, now],
      ),

    insertMail: (id: string, to: string, subject: string, text: string) =>
      store.query(
        'insert into portal_dev_mail (id, to_address, subject, text_body) values ($1, $2, $3, $4)',
        [id, to, subject, text],
      ),
    mailbox: (to: string | null) =>
      store.query<{ id: string; to_address: string; subject: string; text_body: string; created_at: Date }>(
        `select * from portal_dev_mail where ($1::text is null or lower(to_address) = lower($1))
         order by created_at desc, id desc limit 50`,
        [to],
      ),

    alerts: (customerId: string) =>
      store.query<AlertRow>('select * from portal_budget_alerts where customer_id = $1 order by created_at', [
        customerId,
      ]),
    allAlertCustomers: () =>
      store.query<{ customer_id: string }>('select distinct customer_id from portal_budget_alerts'),
    insertAlert: (a: Omit<AlertRow, 'created_at'>) =>
      store.query(
        `insert into portal_budget_alerts (id, customer_id, kind, threshold, feature_key, email, webhook_url, webhook_secret)
         values ($1, $2, $3, $4, $5, $6, $7, $8)`,
        [a.id, a.customer_id, a.kind, a.threshold, a.feature_key, a.email, a.webhook_url, a.webhook_secret],
      ),
    deleteAlert: (customerId: string, id: string) =>
      store.query<{ id: string }>(
        'delete from portal_budget_alerts where customer_id = $1 and id = $2 returning id',
        [customerId, id],
      ),
    /** True when this alert had not fired yet in this period (and records that it has). */
    /**
     * Records that an alert fired in a period; false when it already had. With `db` (a
     * transaction), the record commits or rolls back with the rest of it, e.g. its webhook event.
     */
    recordFiring: async (
      alertId: string,
      customerId: string,
      periodStart: Date,
      message: string,
      db: Kysely<BaseDatabase> = store.db,
    ) =>
      (
        await db
          .withTables<AlertFiringTables>()
          .insertInto('portal_alert_firings')
          .values({ alert_id: alertId, customer_id: customerId, period_start: periodStart, message })
          .onConflict((conflict) => conflict.doNothing())
          .returning('alert_id')
          .execute()
      ).length > 0,
    activeFirings: (customerId: string) =>
      store.query<FiringRow>(
        `select * from portal_alert_firings where customer_id = $1 and dismissed_at is null
         order by fired_at desc limit 10`,
        [customerId],
      ),
    dismissFiring: (customerId: string, alertId: string) =>
      store.query(
        'update portal_alert_firings set dismissed_at = now() where customer_id = $1 and alert_id = $2',
        [customerId, alertId],
      ),

    spendCap: (customerId: string) =>
      one<{ amount: string; currency: string }>(
        'select amount::text as amount, currency from portal_spend_caps where customer_id = $1',
        [customerId],
      ),
    setSpendCap: (customerId: string, amount: string, currency: string) =>
      store.query(
        `insert into portal_spend_caps (customer_id, amount, currency) values ($1, $2, $3)
         on conflict (customer_id) do update set amount = excluded.amount, currency = excluded.currency, updated_at = now()`,
        [customerId, amount, currency],
      ),
    allCapCustomers: () => store.query<{ customer_id: string }>('select customer_id from portal_spend_caps'),
    clearSpendCap: (customerId: string) =>
      store.query('delete from portal_spend_caps where customer_id = $1', [customerId]),
  };
}

export type PortalRepo = ReturnType<typeof portalRepo>;
