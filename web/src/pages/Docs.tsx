import { useQuery } from '@tanstack/react-query';
import { useMemo, useState } from 'react';
import { get, type KeyView } from '../api.ts';
import { portalKey, usePortalQuery } from '../query.ts';
import { Link } from '../router.tsx';
import { secretOf } from '../secrets.ts';
import { useSession } from '../session.tsx';
import { CopyButton, Empty, ErrorNotice, Loading } from '../ui.tsx';

/** A renderer for the project's OpenAPI 3 document: operations by tag, parameters, schemas, curl. */
type Json = Record<string, unknown>;

interface Operation {
  id: string;
  method: string;
  path: string;
  tag: string;
  summary: string;
  description: string;
  parameters: Json[];
  requestBody: Json | null;
  responses: Record<string, Json>;
  feature: string | null;
}

const METHODS = ['get', 'post', 'put', 'patch', 'delete'];

/** A node of the dereferenced document (web/src/openapi-refs.ts) as an object; {} where absent. */
function node(value: unknown): Json {
  return value && typeof value === 'object' ? (value as Json) : {};
}

function operationsOf(doc: Json): Operation[] {
  const out: Operation[] = [];
  const paths = (doc.paths ?? {}) as Record<string, Json>;
  for (const [path, item] of Object.entries(paths)) {
    const shared = (item.parameters as Json[] | undefined) ?? [];
    for (const method of METHODS) {
      const op = item[method] as Json | undefined;
      if (!op) continue;
      const tags = (op.tags as string[] | undefined) ?? [];
      const segment = path.split('/').filter((s) => s && !/^v\d+$/.test(s))[0] ?? 'general';
      const tollgate = op['x-tollgate'] as Json | undefined;
      out.push({
        id: (op.operationId as string | undefined) ?? `${method}-${path}`.replace(/[^\w-]+/g, '-'),
        method,
        path,
        tag: tags[0] ?? segment.replace(/[{}]/g, ''),
        summary: (op.summary as string | undefined) ?? '',
        description: (op.description as string | undefined) ?? '',
        parameters: [...shared, ...((op.parameters as Json[] | undefined) ?? [])].map((p) => node(p)),
        requestBody: op.requestBody ? node(op.requestBody) : null,
        responses: Object.fromEntries(
          Object.entries((op.responses ?? {}) as Record<string, unknown>).map(([k, v]) => [k, node(v)]),
        ),
        feature: (tollgate?.feature as string | undefined) ?? null,
      });
    }
  }
  return out;
}

function typeOf(schema: Json): string {
  if (Array.isArray(schema.enum)) return (schema.enum as unknown[]).map((v) => JSON.stringify(v)).join(' | ');
  if (schema.type === 'array') return `array<${typeOf((schema.items as Json | undefined) ?? {})}>`;
  if (Array.isArray(schema.type)) return (schema.type as string[]).join(' | ');
  return (schema.type as string | undefined) ?? (schema.properties ? 'object' : 'any');
}

function Schema({ schema, depth = 0 }: { schema: Json; depth?: number }) {
  const s = node(schema);
  const props = (s.properties ?? (s.items && node(s.items).properties)) as Record<string, Json> | undefined;
  const required = new Set(
    ((s.required ?? (s.items && node(s.items).required)) as string[] | undefined) ?? [],
  );
  if (!props || depth > 4) return <span className="type">{typeOf(s)}</span>;
  return (
    <div style={{ paddingLeft: depth ? '1rem' : 0 }}>
      {s.type === 'array' && <div className="type">array of</div>}
      {Object.entries(props).map(([name, raw]) => {
        const p = node(raw);
        const nested = p.properties || (p.items && node(p.items).properties);
        return (
          <div key={name}>
            <div className="prop">
              <strong>{name}</strong>
              <span className="type">{typeOf(p)}</span>
              {required.has(name) && <span className="req">required</span>}
              {typeof p.description === 'string' && <span className="muted">{p.description}</span>}
            </div>
            {nested ? <Schema schema={p} depth={depth + 1} /> : null}
          </div>
        );
      })}
    </div>
  );
}

function example(schema: Json, depth = 0): unknown {
  const s = node(schema);
  if (s.example !== undefined) return s.example;
  if (Array.isArray(s.enum)) return s.enum[0];
  if (depth > 4) return null;
  if (s.type === 'object' || s.properties) {
    const out: Json = {};
    for (const [k, v] of Object.entries((s.properties ?? {}) as Record<string, Json>))
      out[k] = example(v, depth + 1);
    return out;
  }
  if (s.type === 'array') return [example((s.items as Json | undefined) ?? {}, depth + 1)];
  if (s.type === 'integer' || s.type === 'number') return 1;
  if (s.type === 'boolean') return false;
  return 'string';
}

/**
 * What the examples send when this tab does not know the full key (keys are shown once): a shell
 * variable, so a pasted example works once it is set, and never a truncated key (a sure 401).
 */
const KEY_VARIABLE = '$API_KEY';

function curlFor(op: Operation, base: string, key: string): string {
  let path = op.path;
  const query: string[] = [];
  for (const p of op.parameters) {
    const ex = (p.example ?? node(p.schema).example ?? (p.name === 'city' ? 'Paris' : '123')) as string;
    if (p.in === 'path') path = path.replace(`{${p.name}}`, encodeURIComponent(String(ex)));
    if (p.in === 'query' && p.required) query.push(`${p.name}=${encodeURIComponent(String(ex))}`);
  }
  const lines = [
    `curl${op.method === 'get' ? '' : ` -X ${op.method.toUpperCase()}`} '${base}${path}${query.length ? `?${query.join('&')}` : ''}'`,
  ];
  // A shell variable needs double quotes to expand; a full key is quoted as it is.
  lines.push(
    key === KEY_VARIABLE ? `  -H "Authorization: Bearer ${key}"` : `  -H 'Authorization: Bearer ${key}'`,
  );
  const content = (op.requestBody?.content ?? {}) as Record<string, Json>;
  if (content['application/json']) {
    lines.push(`  -H 'Content-Type: application/json'`);
    const body = example((content['application/json'].schema as Json | undefined) ?? {});
    lines.push(`  -d '${JSON.stringify(body)}'`);
  } else if (Object.keys(content).length > 0) {
    lines.push(`  --data-binary @file`);
  }
  return lines.join(' \\\n');
}

function OperationCard({ op, base, apiKey }: { op: Operation; base: string; apiKey: string }) {
  const curl = curlFor(op, base, apiKey);
  const content = (op.requestBody?.content ?? {}) as Record<string, Json>;
  return (
    <article className="card op" id={op.id} aria-labelledby={`${op.id}-title`}>
      <div className="row" style={{ marginBottom: '.5rem' }}>
        <span className={`method method-${op.method}`}>{op.method.toUpperCase()}</span>
        <span className="path">{op.path}</span>
        {op.feature && <span className="badge badge-brand">feature: {op.feature}</span>}
      </div>
      <h3 id={`${op.id}-title`}>{op.summary || op.id}</h3>
      {op.description && <p className="muted">{op.description}</p>}
      {op.parameters.length > 0 && (
        <>
          <h4>Parameters</h4>
          <div className="table-wrap">
            <table>
              <thead>
                <tr>
                  <th>Name</th>
                  <th>In</th>
                  <th>Type</th>
                  <th>Description</th>
                </tr>
              </thead>
              <tbody>
                {op.parameters.map((p) => (
                  <tr key={`${p.in}-${p.name}`}>
                    <td className="mono">
                      {String(p.name)}
                      {p.required ? (
                        <span className="req" style={{ color: 'var(--bad)' }}>
                          {' '}
                          *
                        </span>
                      ) : null}
                    </td>
                    <td>{String(p.in)}</td>
                    <td className="mono">{typeOf(node(p.schema))}</td>
                    <td className="muted">{String(p.description ?? '')}</td>
                  </tr>
                ))}
              </tbody>
            </table>
          </div>
        </>
      )}
      {Object.keys(content).length > 0 && (
        <>
          <h4 style={{ marginTop: '1rem' }}>Request body</h4>
          {Object.entries(content).map(([type, media]) => (
            <div key={type} className="schema">
              <div className="muted" style={{ marginBottom: '.35rem' }}>
                {type}
              </div>
              {media.schema ? <Schema schema={media.schema as Json} /> : <span className="type">binary</span>}
            </div>
          ))}
        </>
      )}
      <h4 style={{ marginTop: '1rem' }}>Responses</h4>
      <div className="stack">
        {Object.entries(op.responses).map(([code, response]) => {
          const media = Object.entries((response.content ?? {}) as Record<string, Json>)[0];
          return (
            <div key={code} className="schema">
              <div className="prop">
                <strong>{code}</strong>
                <span className="muted">{String(response.description ?? '')}</span>
              </div>
              {media?.[1].schema ? <Schema schema={media[1].schema as Json} /> : null}
            </div>
          );
        })}
      </div>
      <h4 style={{ marginTop: '1rem' }}>Example</h4>
      <div className="code-wrap">
        <pre className="code">
          <code>{curl}</code>
        </pre>
        <CopyButton text={curl} />
      </div>
    </article>
  );
}

export function Docs() {
  const { config, me } = useSession();
  const docData = useQuery({
    queryKey: portalKey('/openapi', 'dereferenced'),
    // The resolver (and its YAML parser) is loaded with this page, not with the rest of the portal.
    queryFn: async () => {
      const [doc, refs] = await Promise.all([get<Json>('/openapi'), import('../openapi-refs.ts')]);
      return refs.dereferenceOpenApi(doc);
    },
  });
  const keysData = usePortalQuery<{ keys: KeyView[] }>(me && config?.services.keys ? '/keys' : null);
  const [chosen, setChosen] = useState<string>('');
  const doc = docData.data;
  const ops = useMemo(() => (doc ? operationsOf(doc) : []), [doc]);
  const activeKeys = (keysData.data?.keys ?? []).filter(
    (k) => k.status === 'active' || k.status === 'rolling',
  );
  // Default: the newest key whose secret this tab knows (just created), else the newest key.
  const newest = [...activeKeys].sort((x, y) => y.createdAt.localeCompare(x.createdAt));
  const keyId = chosen || (newest.find((k) => secretOf(k.id)) ?? newest[0])?.id || '';
  const key = activeKeys.find((k) => k.id === keyId);
  const apiKey = (key && secretOf(key.id)) ?? KEY_VARIABLE;
  const base = (
    config?.gatewayUrl ??
    ((doc?.servers as Json[] | undefined)?.[0]?.url as string | undefined) ??
    ''
  ).replace(/\/$/, '');
  if (docData.error) {
    return <Empty title="No API reference yet">The operator has not configured an OpenAPI document.</Empty>;
  }
  if (!doc) return <Loading />;
  const info = (doc.info ?? {}) as Json;
  const tags = [...new Set(ops.map((o) => o.tag))];
  return (
    <div className="docs">
      <nav className="docs-nav" aria-label="Operations">
        {tags.map((tag) => (
          <div key={tag}>
            <h4>{tag}</h4>
            {ops
              .filter((o) => o.tag === tag)
              .map((o) => (
                <a key={o.id} href={`#${o.id}`}>
                  <span className={`method method-${o.method}`}>{o.method.toUpperCase()}</span>
                  <span className="path" style={{ fontSize: '.8rem' }}>
                    {o.path}
                  </span>
                </a>
              ))}
          </div>
        ))}
      </nav>
      <div className="stack">
        <section className="card">
          <h1>{String(info.title ?? config?.apiName)}</h1>
          {typeof info.description === 'string' && <p className="muted">{info.description}</p>}
          <p>
            Base URL: <code>{base}</code> · Authenticate with <code>Authorization: Bearer &lt;key&gt;</code>.
            Errors are <code>application/problem+json</code>; 429 carries <code>Retry-After</code>.
          </p>
          {me ? (
            activeKeys.length > 0 ? (
              <div className="field" style={{ maxWidth: 420, marginBottom: 0 }}>
                <label htmlFor="docs-key">Key used in the examples</label>
                <select id="docs-key" value={keyId} onChange={(e) => setChosen(e.target.value)}>
                  {activeKeys.map((k) => (
                    <option key={k.id} value={k.id}>
                      {k.name} ({k.prefix}…)
                    </option>
                  ))}
                </select>
                {key && !secretOf(key.id) && (
                  <span className="help">
                    Keys are shown once, so the examples read it from a variable: run{' '}
                    <code>export API_KEY=…</code> with your full {key.prefix}… key, or{' '}
                    <Link to="/keys">create a new one</Link> to have it filled in here.
                  </span>
                )}
              </div>
            ) : (
              <p className="muted small">
                <Link to="/keys">Create an API key</Link> and the examples below use it.
              </p>
            )
          ) : (
            <p className="muted small">
              <Link to="/signup">Sign up</Link> to get a key; the examples then use it.
            </p>
          )}
        </section>
        {tags.map((tag) => (
          <section key={tag} aria-label={tag} className="stack">
            <h2 style={{ textTransform: 'capitalize', marginTop: '.5rem' }}>{tag}</h2>
            {ops
              .filter((o) => o.tag === tag)
              .map((o) => (
                <OperationCard key={o.id} op={o} base={base} apiKey={apiKey} />
              ))}
          </section>
        ))}
        <ErrorNotice error={keysData.error} />
      </div>
    </div>
  );
}
