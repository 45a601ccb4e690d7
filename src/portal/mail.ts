import { createTransport } from 'nodemailer';
import type { ResolvedConfig } from '../config/index.ts';
import { newId } from '../util/ids.ts';
import type { Logger } from '../util/log.ts';
import type { MailMessage, MailPort } from './ports.ts';
import type { PortalRepo } from './repo.ts';

/**
 * Portal mail (password resets, invitations, budget alerts). With `portal.smtp` set, mail goes
 * out through nodemailer (or the notify module's mailer when wired). Without it (dev), each
 * message is printed to the log and kept in the dev mailbox the portal shows at /dev/mailbox.
 */
export interface PortalMailer extends MailPort {
  readonly devMailbox: boolean;
}

export function portalMailer(
  config: ResolvedConfig,
  repo: PortalRepo,
  log: Logger,
  external?: MailPort,
): PortalMailer {
  const smtp = config.portal.smtp;
  if (smtp) {
    const transport = external ? null : createTransport(smtp);
    return {
      devMailbox: false,
      async send(message: MailMessage) {
        if (external) return external.send(message);
        await transport?.sendMail({
          from: config.portal.from,
          to: message.to,
          subject: message.subject,
          text: message.text,
        });
      },
    };
  }
  return {
    devMailbox: true,
    async send(message: MailMessage) {
      await repo.insertMail(newId('mail'), message.to, message.subject, message.text);
      log.info({ to: message.to, subject: message.subject }, `portal mail (dev mailbox)\n${message.text}`);
    },
  };
}
