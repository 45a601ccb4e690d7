import { dereference } from '@apidevtools/json-schema-ref-parser';

type Json = Record<string, unknown>;

/**
 * The OpenAPI document with every local `$ref` replaced by what it points at, by
 * @apidevtools/json-schema-ref-parser (JSON Pointer per RFC 6901: percent-decoding, then `~1` →
 * `/` and `~0` → `~`, so a schema named `Item/v2` is found at `#/components/schemas/Item~1v2`).
 * Circular schemas stay circular objects (the renderer stops at a depth); external references are
 * never fetched: the page shows the operator's document and asks no other host. A document the
 * parser refuses (a `$ref` to nothing) is shown as it is, its broken references as `any`.
 */
export async function dereferenceOpenApi(doc: Json): Promise<Json> {
  try {
    return (await dereference(structuredClone(doc), {
      resolve: { external: false },
      dereference: { circular: true },
    })) as Json;
  } catch {
    return doc;
  }
}
