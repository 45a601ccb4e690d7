import { expect, it } from 'vitest';
import { dereferenceOpenApi } from '../../web/src/openapi-refs.ts';

/**
 * The portal's API reference resolves `$ref`s with a maintained JSON Pointer implementation
 * (web/src/openapi-refs.ts): names with `/` and `~` (escaped `~1`, `~0`), percent-escapes,
 * circular schemas, and no request to another host for an external reference.
 */
const doc = () => ({
  openapi: '3.1.0',
  info: { title: 't', version: '1' },
  paths: {
    '/v1/items': {
      get: {
        parameters: [{ $ref: '#/components/parameters/page~1size' }],
        responses: {
          200: {
            description: 'OK',
            content: { 'application/json': { schema: { $ref: '#/components/schemas/Item~1v2' } } },
          },
        },
      },
    },
    '/v1/tree': {
      get: {
        responses: {
          200: {
            description: 'OK',
            content: { 'application/json': { schema: { $ref: '#/components/schemas/Node' } } },
          },
          400: { $ref: '#/components/responses/Bad%20Request' },
        },
      },
    },
  },
  components: {
    parameters: { 'page/size': { name: 'pageSize', in: 'query', schema: { type: 'integer' } } },
    responses: { 'Bad Request': { description: 'Bad input' } },
    schemas: {
      'Item/v2': {
        type: 'object',
        properties: { price: { $ref: '#/components/schemas/money~0amount' } },
      },
      'money~amount': { type: 'string', example: '9.99' },
      Node: {
        type: 'object',
        properties: { children: { type: 'array', items: { $ref: '#/components/schemas/Node' } } },
      },
      Remote: { $ref: 'http://127.0.0.1:9/never-fetched.json' },
    },
  },
});

it('resolves ~1, ~0 and percent-escaped pointers, keeps cycles, fetches nothing external', async () => {
  const input = doc();
  const out = (await dereferenceOpenApi(input)) as ReturnType<typeof doc> & Record<string, never>;
  // biome-ignore lint/suspicious/noExplicitAny: walking the resolved document.
  const paths = out.paths as any;
  const items = paths['/v1/items'].get;
  expect(items.parameters[0]).toEqual({ name: 'pageSize', in: 'query', schema: { type: 'integer' } });
  const item = items.responses[200].content['application/json'].schema;
  expect(item.type).toBe('object');
  expect(item.properties.price).toEqual({ type: 'string', example: '9.99' });
  const tree = paths['/v1/tree'].get.responses;
  expect(tree[400]).toEqual({ description: 'Bad input' });
  const node = tree[200].content['application/json'].schema;
  expect(node.properties.children.items).toBe(node);
  // The external reference is left as written, and the caller's document is not changed.
  // biome-ignore lint/suspicious/noExplicitAny: as above.
  expect((out.components as any).schemas.Remote).toEqual({ $ref: 'http://127.0.0.1:9/never-fetched.json' });
  expect(input).toEqual(doc());
});

it('shows a document with a $ref to nothing as it is, rather than failing the page', async () => {
  const broken = { openapi: '3.1.0', paths: { '/x': { get: { responses: { 200: { $ref: '#/nope' } } } } } };
  expect(await dereferenceOpenApi(broken)).toEqual(broken);
});
