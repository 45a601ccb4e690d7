/** What other modules may import from notify: outgoing webhooks and mail. */
export { mountNotifyRoutes } from './http.ts';
export { createMailer, type Mailer, type MailMessage, type StoredMail } from './mail.ts';
export {
  createWebhookService,
  type Delivery,
  matchesType,
  newWebhookSecret,
  RETRY_SCHEDULE_MS,
  signWebhook,
  type WebhookEndpoint,
  type WebhookService,
} from './webhooks.ts';
