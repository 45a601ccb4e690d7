/** What other modules may import from notify: outgoing webhooks and mail. */
export { mountNotifyRoutes } from './http.ts';
export { createMailer, type Mailer, type MailMessage, type StoredMail } from './mail.ts';
export {
  FULL_CHECK_MS,
  liveCustomersOf,
  recentCustomersOf,
  USAGE_THRESHOLD_EVENT,
  type UsageBalance,
  type UsageThresholdDeps,
  type UsageThresholds,
  usageThresholds,
} from './usage-thresholds.ts';
export {
  createWebhookService,
  type Delivery,
  matchesType,
  newWebhookSecret,
  RETRY_SCHEDULE_MS,
  signWebhook,
  WEBHOOK_EVENT_TYPES,
  type WebhookEndpoint,
  type WebhookService,
} from './webhooks.ts';
