import { createTransport } from 'nodemailer';
import type { ResolvedConfig } from '../config/index.ts';
import { newId } from '../util/ids.ts';
import type { Logger } from '../util/log.ts';
import type { MailMessage, MailPort } from './dependencies.ts';
import type { PortalRepo } from './repo.ts';

/**
 * Portal mail (password resets, invitations, budget alerts). With `portal.smtp` set, mail goes
 * out through nodemailer (or the notify module's mailer when wired). Without it (dev), each
 * message is printed to the log and kept in the dev mailbox the portal shows at /dev/mailbox.
 */
export interface PortalMailer {
  readonly devMailbox: boolean;
  send(message: MailMessage): Promise<void>;
  /** Dev mailbox contents, newest first. */
  list(
    to: string | null,
  ): Promise<{ id: string; to: string; subject: string; text: string; createdAt: string }[]>;
}

export function portalMailer(
  config: ResolvedConfig,
  repo: PortalRepo,
  log: Logger,
  external?: MailPort,
): PortalMailer {
  if (external) {
    return {
      devMailbox: external.devMailbox,
      send: (message) => external.send(message),
      async list(to) {
        const mails = await external.mailbox({ to: to ?? undefined, limit: 50 });
        return mails.map((m) => ({
          id: m.id,
          to: m.to,
          subject: m.subject,
          text: m.text,
          createdAt: m.createdAt,
        }));
      },
    };
  }
  const smtp = config.portal.smtp;
  if (smtp) {
    const transport = createTransport(smtp);
    return {
      devMailbox: false,
      async send(message: MailMessage) {
        await transport.sendMail({
          from: config.portal.from,
          to: message.to,
          subject: message.subject,
          text: message.text,
        });
      },
      list: async () => [],
    };
  }
  return {
    devMailbox: true,
    async send(message: MailMessage) {
      await repo.insertMail(newId('mail'), message.to, message.subject, message.text);
      // Never the text: it holds reset and invitation links (secrets); the dev mailbox shows it.
      log.info({ to: message.to, subject: message.subject }, 'portal mail kept in the dev mailbox');
    },
    async list(to) {
      const rows = await repo.mailbox(to);
      return rows.map((m) => ({
        id: m.id,
        to: m.to_address,
        subject: m.subject,
        text: m.text_body,
        createdAt: new Date(m.created_at).toISOString(),
      }));
    },
  };
}
