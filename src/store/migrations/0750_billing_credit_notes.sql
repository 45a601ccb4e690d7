-- Credit notes: what reduces an issued invoice after the fact (refunds, customer credit, credit
-- outside the rail). The invoice itself is never edited; its credit notes are read beside it.
create table if not exists billing_credit_notes (
  id text primary key,
  number text not null unique,
  invoice_id text not null references billing_invoices (id),
  customer_id text not null,
  currency text not null,
  status text not null check (status in ('issued', 'void')),
  reason text not null check (reason in ('duplicate', 'fraudulent', 'order_change', 'product_unsatisfactory', 'usage_correction', 'other')),
  memo text,
  subtotal numeric(24, 8) not null,
  tax numeric(24, 8) not null,
  total numeric(24, 8) not null check (total > 0),
  -- refund + credit + out of band = total (Stripe's rule)
  refund_amount numeric(24, 8) not null default 0 check (refund_amount >= 0),
  credit_amount numeric(24, 8) not null default 0 check (credit_amount >= 0),
  out_of_band_amount numeric(24, 8) not null default 0 check (out_of_band_amount >= 0),
  refund_payment_id text references billing_payments (id),
  issued_at timestamptz not null,
  created_at timestamptz not null default now(),
  check (refund_amount + credit_amount + out_of_band_amount = total)
);
create index if not exists billing_credit_notes_invoice on billing_credit_notes (invoice_id);
create index if not exists billing_credit_notes_customer on billing_credit_notes (customer_id, issued_at desc);

create table if not exists billing_credit_note_lines (
  credit_note_id text not null references billing_credit_notes (id) on delete cascade,
  position integer not null,
  -- the invoice line it credits (null for an amount not tied to one line)
  invoice_line_position integer,
  description text not null,
  quantity numeric(30, 12),
  amount numeric(24, 8) not null check (amount > 0),
  primary key (credit_note_id, position)
);
