import { createTransport, type Transporter } from 'nodemailer';
import type { ResolvedConfig } from '../config/index.ts';
import type { Store } from '../store/index.ts';
import type { Clock } from '../util/clock.ts';
import { newId } from '../util/ids.ts';
import type { Logger } from '../util/log.ts';

/**
 * Email for every module (password resets, invitations, budget alerts, invoices). With
 * `portal.smtp` (an SMTP URL such as `smtps://user:pass@smtp.example.com`) mail goes out through
 * nodemailer; without it (development) each message is kept in the dev mailbox in the store
 * (`notify_mailbox`, listed by `mailbox()`); the log says only that a message was kept (its text holds secrets).
 */
export interface MailMessage {
  to: string;
  subject: string;
  text: string;
  html?: string;
}

export interface StoredMail extends MailMessage {
  id: string;
  createdAt: string;
}

export interface Mailer {
  readonly devMailbox: boolean;
  send(message: MailMessage): Promise<void>;
  /** Dev mailbox contents, newest first (empty when SMTP is configured). */
  mailbox(options?: { to?: string; limit?: number }): Promise<StoredMail[]>;
  close(): void;
}

export function createMailer(deps: {
  config: ResolvedConfig;
  store: Store;
  clock: Clock;
  log: Logger;
  /** For tests: a nodemailer transport (e.g. `{ jsonTransport: true }`). */
  transport?: Transporter;
}): Mailer {
  const { config, store, clock, log } = deps;
  const smtp = config.portal.smtp;
  const transport = deps.transport ?? (smtp ? createTransport(smtp) : null);
  return {
    devMailbox: transport === null,
    async send(message) {
      if (!message.to.includes('@')) throw new Error(`not an email address: ${message.to}`);
      if (transport) {
        await transport.sendMail({
          from: config.portal.from,
          to: message.to,
          subject: message.subject,
          text: message.text,
          ...(message.html ? { html: message.html } : {}),
        });
        return;
      }
      await store.query(
        'insert into notify_mailbox (id, to_address, subject, text_body, html_body, created_at) values ($1, $2, $3, $4, $5, $6)',
        [newId('mail'), message.to, message.subject, message.text, message.html ?? null, clock.now()],
      );
      // Never the text: it holds reset and invitation links (secrets); the dev mailbox shows it.
      log.info({ to: message.to, subject: message.subject }, 'mail kept in the dev mailbox');
    },
    async mailbox(options = {}) {
      const rows = await store.query<{
        id: string;
        to_address: string;
        subject: string;
        text_body: string;
        html_body: string | null;
        created_at: Date;
      }>(
        `select * from notify_mailbox where ($1::text is null or lower(to_address) = lower($1))
         order by created_at desc, id desc limit $2`,
        [options.to ?? null, options.limit ?? 50],
      );
      return rows.map((r) => ({
        id: r.id,
        to: r.to_address,
        subject: r.subject,
        text: r.text_body,
        ...(r.html_body ? { html: r.html_body } : {}),
        createdAt: new Date(r.created_at).toISOString(),
      }));
    },
    close() {
      transport?.close();
    },
  };
}
