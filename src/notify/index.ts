/** What other modules may import from notify: outgoing webhooks and mail. */
export {
  DEFAULT_DISABLE_AFTER,
  DEFAULT_PER_ENDPOINT,
  DEFAULT_TIMEOUT_MS,
  RETRY_SCHEDULE_MS,
} from './delivery.ts';
export type { CreatedEndpoint, EndpointInput } from './endpoints.ts';
export {
  eventFilterProblem,
  matchesType,
  WEBHOOK_EVENT_DESCRIPTIONS,
  WEBHOOK_EVENT_SCHEMAS,
  WEBHOOK_EVENT_TYPES,
  type WebhookEventType,
} from './event-types.ts';
export { mountNotifyRoutes, registerWebhookContract, webhookAdminApi } from './http.ts';
export { createMailer, type Mailer, type MailMessage, type StoredMail } from './mail.ts';
export { newWebhookSecret, signWebhook, webhookSecretProblem } from './secrets.ts';
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
export { USER_AGENT } from './version.ts';
export {
  createWebhookService,
  type Delivery,
  type DeliveryAttempt,
  type WebhookEndpoint,
  type WebhookService,
} from './webhooks.ts';
