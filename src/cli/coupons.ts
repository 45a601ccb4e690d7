import type { Command } from 'commander';
import pc from 'picocolors';
import type { Coupon } from '../billing/discounts/model.ts';
import { problems } from '../http/problem.ts';
import { withTollgate } from './context.ts';
import { createTable } from './table.ts';

/**
 * `tollgate coupons create|list|archive|apply|remove`: coupons and discounts from the command
 * line, through the same billing service as the admin API (`/api/admin/coupons`).
 */
function terms(c: Coupon | null): string {
  if (!c) return 'its coupon is no longer in the config';
  const off = c.percentOff ? `${c.percentOff}% off` : `${c.amountOff} ${c.currency} off`;
  const scope = c.rateCardKeys.length ? ` ${c.rateCardKeys.join(', ')}` : ' the invoice';
  const duration = c.duration === 'repeating' ? `for ${c.durationPeriods} periods` : c.duration;
  return `${off}${scope}, ${duration}`;
}

function int(flag: string, text: string | undefined): number | undefined {
  if (text === undefined) return undefined;
  if (!/^\d+$/.test(text) || Number(text) < 1)
    throw problems.badRequest(`${flag} must be a whole number above 0.`);
  return Number(text);
}

export function registerCouponCommands(program: Command): void {
  const coupons = program.command('coupons').description('coupons and the discounts customers get from them');
  coupons
    .command('create <code>')
    .description('create a coupon: --percent-off or --amount-off with --currency')
    .option('--name <name>', 'shown on invoices (default "Coupon <CODE>")')
    .option('--percent-off <percent>', 'e.g. 20 (20 %)')
    .option('--amount-off <amount>', 'fixed amount per period, e.g. 10.00')
    .option('--currency <code>', 'with --amount-off, e.g. USD')
    .option('--duration <duration>', 'once | repeating | forever', 'once')
    .option('--periods <n>', 'with --duration repeating: how many billing periods')
    .option('--rate-card <key...>', 'only these rate cards (default: the whole invoice)')
    .option('--max-redemptions <n>', 'how many customers can redeem it')
    .option('--redeem-by <time>', 'RFC 3339; no redemption at or after it')
    .option('--json', 'print JSON')
    .action(
      async (code: string, o: Record<string, string | string[] | boolean | undefined>, command: Command) => {
        await withTollgate(command, async (tollgate) => {
          const coupon = await tollgate.billing.discounts.createCoupon({
            code,
            ...(o.name ? { name: o.name as string } : {}),
            ...(o.percentOff ? { percentOff: o.percentOff as string } : {}),
            ...(o.amountOff ? { amountOff: o.amountOff as string } : {}),
            ...(o.currency ? { currency: o.currency as string } : {}),
            duration: o.duration as 'once' | 'repeating' | 'forever',
            ...(o.periods ? { durationPeriods: int('--periods', o.periods as string) } : {}),
            ...(o.rateCard ? { rateCardKeys: o.rateCard as string[] } : {}),
            ...(o.maxRedemptions
              ? { maxRedemptions: int('--max-redemptions', o.maxRedemptions as string) }
              : {}),
            ...(o.redeemBy ? { redeemBy: o.redeemBy as string } : {}),
          });
          if (o.json) return console.log(JSON.stringify(coupon, null, 2));
          console.log(`${pc.green('✓')} ${pc.bold(coupon.code)}: ${terms(coupon)}`);
        });
      },
    );
  coupons
    .command('list')
    .description('list coupons')
    .option('--json', 'print JSON')
    .action(async (o: { json?: boolean }, command: Command) => {
      await withTollgate(command, async (tollgate) => {
        const list = await tollgate.billing.discounts.listCoupons();
        if (o.json) return console.log(JSON.stringify(list, null, 2));
        if (list.length === 0) return console.log(pc.dim('No coupons.'));
        const table = createTable({
          head: ['code', 'terms', 'redeemed', 'expires', 'status'].map((h) => pc.bold(h)),
        });
        for (const c of list) {
          table.push([
            c.code,
            terms(c),
            `${c.timesRedeemed}${c.maxRedemptions ? ` / ${c.maxRedemptions}` : ''}`,
            c.redeemBy ?? '—',
            c.archived ? 'archived' : c.source === 'config' ? 'active (config)' : 'active',
          ]);
        }
        console.log(table.toString());
      });
    });
  coupons
    .command('archive <code>')
    .description('no new redemptions (discounts already given run their course)')
    .action(async (code: string, _o: unknown, command: Command) => {
      await withTollgate(command, async (tollgate) => {
        const coupon = await tollgate.billing.discounts.archiveCoupon(code);
        console.log(`${pc.green('✓')} ${coupon.code} archived`);
      });
    });
  coupons
    .command('apply <code> <customer>')
    .description('apply a coupon to a customer (limits and expiry apply)')
    .option('--subscription <id>', 'only this subscription (default: all the customer’s)')
    .action(async (code: string, customerId: string, o: { subscription?: string }, command: Command) => {
      await withTollgate(command, async (tollgate) => {
        const customer = await tollgate.customers.get(customerId);
        if (!customer) throw problems.notFound(`No customer ${customerId}.`);
        const subs = await tollgate.subscriptions.list({ customerId });
        const sub = subs.find((s) => (o.subscription ? s.id === o.subscription : s.status !== 'canceled'));
        const currency = sub
          ? (await tollgate.subscriptions.planVersionOf(sub)).definition.currency
          : undefined;
        const coupon = await tollgate.billing.discounts.getCoupon(code);
        const discount = await tollgate.billing.discounts.redeem({
          code,
          customerId,
          subscriptionId: o.subscription ?? null,
          currency: currency ?? coupon.currency ?? 'USD',
        });
        console.log(
          `${pc.green('✓')} ${discount.couponCode} applied to ${customer.name} (${discount.id}): ${terms(discount.coupon)}`,
        );
      });
    });
  coupons
    .command('remove <discount>')
    .description('remove a discount from a customer (issued invoices keep theirs)')
    .action(async (id: string, _o: unknown, command: Command) => {
      await withTollgate(command, async (tollgate) => {
        const discount = await tollgate.billing.discounts.remove(id);
        console.log(`${pc.green('✓')} ${discount.id} (${discount.couponCode}) removed`);
      });
    });
}
