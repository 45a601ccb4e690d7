import { newId } from '../../util/ids.ts';
import type { PaymentRail } from './types.ts';

/**
 * Enterprise invoicing: nothing is charged automatically. Issued invoices carry net-N payment
 * terms (`billing.rail: { type: 'invoice', netDays: 30 }`) and are marked paid by an admin
 * (`tollgate invoices pay <id>` or `POST /api/admin/invoices/<id>/mark-paid`).
 */
export function createInvoiceRail(netDays = 30): PaymentRail & { netDays: number } {
  return {
    name: 'invoice',
    collection: 'manual',
    netDays,
    async createCustomer() {
      return { railCustomerId: newId('inv_cus') };
    },
    async checkout() {
      return { url: null, sessionId: newId('inv_cs') };
    },
    async chargeInvoice() {
      return { status: 'pending', railRef: null };
    },
    async refund(input) {
      return { railRef: `manual_${input.idempotencyKey}`, status: 'succeeded' };
    },
    async handleWebhook() {
      return [];
    },
  };
}
