import { z } from 'zod';

/** `notifications`: usage thresholds and which internal hosts outgoing calls may reach. */

export const notificationsSchema = z
  .strictObject({
    /**
     * `usage.threshold` webhooks: percentages of a metered entitlement's limit; one event per
     * customer, feature, usage period and threshold. Empty: none.
     */
    usageThresholds: z
      .array(z.number().int('must be a whole percentage').positive('must be more than 0'))
      .superRefine((percents, ctx) => {
        percents.forEach((percent, i) => {
          const before = percents[i - 1];
          if (before !== undefined && percent <= before) {
            ctx.addIssue({
              code: 'custom',
              path: [i],
              message: `thresholds must be strictly increasing (${percent} comes after ${before})`,
            });
          }
        });
      })
      .default([80, 100]),
    /**
     * Hosts (names or IP literals, exact) that webhook and alert URLs may reach although they
     * resolve to loopback, private, link-local or other internal addresses, and over http.
     * Empty (the default): outgoing calls reach public addresses only (src/http/outbound.ts).
     */
    allowHosts: z.array(z.string().min(1, 'must not be empty')).default([]),
  })
  .default({ usageThresholds: [80, 100], allowHosts: [] });
