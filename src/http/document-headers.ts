/**
 * Headers for answers that hold one customer's document (an invoice page or PDF): never kept by
 * shared caches, never sent on as a Referer (whose URL may carry a signed link), never sniffed
 * into another type.
 */
export const PRIVATE_DOCUMENT_HEADERS = {
  'cache-control': 'private, no-store',
  'referrer-policy': 'no-referrer',
  'x-content-type-options': 'nosniff',
} as const;
