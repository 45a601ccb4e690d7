/**
 * The admin API reference: one self-contained HTML page (no CDN, works offline) that fetches
 * `openapi.json` beside it and renders operations, parameters, bodies and schemas.
 */
export function referencePage(title: string, specPath: string): string {
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>${escapeHtml(title)}</title>
<style>
  :root { --fg:#111827; --muted:#6b7280; --line:#e5e7eb; --bg:#f9fafb; --accent:#4f46e5; }
  * { box-sizing: border-box; }
  body { margin:0; font:15px/1.5 system-ui,-apple-system,Segoe UI,Roboto,sans-serif; color:var(--fg); background:#fff; }
  header { padding:24px 32px; border-bottom:1px solid var(--line); }
  header h1 { margin:0 0 4px; font-size:22px; }
  header p { margin:0; color:var(--muted); }
  .layout { display:flex; }
  nav { width:280px; flex:none; padding:16px; border-right:1px solid var(--line); position:sticky; top:0; height:100vh; overflow:auto; background:var(--bg); }
  nav h2 { font-size:12px; text-transform:uppercase; letter-spacing:.05em; color:var(--muted); margin:16px 0 6px; }
  nav a { display:block; padding:3px 6px; border-radius:6px; color:var(--fg); text-decoration:none; font-size:13px; }
  nav a:hover, nav a:focus { background:#eef2ff; outline:none; }
  main { flex:1; padding:8px 32px 64px; max-width:980px; }
  section.op { border-bottom:1px solid var(--line); padding:20px 0; }
  .method { display:inline-block; min-width:64px; text-align:center; font:600 12px ui-monospace,monospace; padding:3px 8px; border-radius:6px; color:#fff; margin-right:8px; }
  .get{background:#2563eb}.post{background:#16a34a}.put{background:#ca8a04}.patch{background:#9333ea}.delete{background:#dc2626}
  code, pre { font-family: ui-monospace,SFMono-Regular,Menlo,monospace; font-size:13px; }
  pre { background:#0f172a; color:#e2e8f0; padding:12px 14px; border-radius:8px; overflow:auto; }
  table { border-collapse:collapse; width:100%; margin:8px 0; }
  th, td { text-align:left; border-bottom:1px solid var(--line); padding:6px 8px; vertical-align:top; font-size:14px; }
  th { color:var(--muted); font-weight:600; }
  .muted { color:var(--muted); }
  h3 { margin:16px 0 4px; font-size:14px; }
  @media (max-width: 800px) { nav { display:none; } main { padding:8px 16px; } }
</style>
</head>
<body>
<header><h1 id="title">${escapeHtml(title)}</h1><p id="desc">Loading the OpenAPI document…</p></header>
<div class="layout"><nav id="nav" aria-label="Operations"></nav><main id="main"></main></div>
<script>
(async () => {
  const esc = (s) => String(s ?? '').replace(/[&<>"']/g, (c) => ({'&':'&amp;','<':'&lt;','>':'&gt;','"':'&quot;',"'":'&#39;'}[c]));
  const res = await fetch(${JSON.stringify(specPath)});
  const doc = await res.json();
  document.getElementById('title').textContent = doc.info.title + ' · v' + doc.info.version;
  document.getElementById('desc').textContent = doc.info.description || '';
  const schemas = (doc.components && doc.components.schemas) || {};
  const base = (doc.servers && doc.servers[0] && doc.servers[0].url) || '';
  const deref = (s) => (s && s.$ref ? schemas[s.$ref.split('/').pop()] : s);
  const typeOf = (s, depth = 0) => {
    if (!s) return 'any';
    if (s.$ref) return s.$ref.split('/').pop();
    if (s.anyOf || s.oneOf) return (s.anyOf || s.oneOf).map((x) => typeOf(x, depth)).join(' | ');
    if (s.type === 'array') return typeOf(s.items, depth) + '[]';
    if (s.enum) return s.enum.map((v) => JSON.stringify(v)).join(' | ');
    if (s.properties && depth < 1) return '{ ' + Object.entries(s.properties).map(([k, v]) => k + ': ' + typeOf(v, depth + 1)).join(', ') + ' }';
    const t = Array.isArray(s.type) ? s.type.join(' | ') : (s.type || 'object');
    return t + (s.nullable ? ' | null' : '');
  };
  const props = (s) => {
    s = deref(s);
    if (!s || !s.properties) return '<p class="muted">' + esc(typeOf(s)) + '</p>';
    const req = new Set(s.required || []);
    return '<table><tr><th>Field</th><th>Type</th><th>Description</th></tr>' +
      Object.entries(s.properties).map(([k, v]) => '<tr><td><code>' + esc(k) + '</code>' + (req.has(k) ? ' *' : '') +
        '</td><td><code>' + esc(typeOf(v)) + '</code></td><td>' + esc((deref(v) || {}).description || v.description || '') + '</td></tr>').join('') + '</table>';
  };
  const groups = {};
  for (const [path, item] of Object.entries(doc.paths || {})) {
    for (const [method, op] of Object.entries(item)) {
      const tag = (op.tags && op.tags[0]) || 'Other';
      (groups[tag] = groups[tag] || []).push({ path, method, op });
    }
  }
  let nav = '', main = '', n = 0;
  for (const [tag, ops] of Object.entries(groups)) {
    nav += '<h2>' + esc(tag) + '</h2>';
    main += '<h2>' + esc(tag) + '</h2>';
    for (const { path, method, op } of ops) {
      const id = 'op' + n++;
      nav += '<a href="#' + id + '"><span class="muted">' + method.toUpperCase() + '</span> ' + esc(path) + '</a>';
      let html = '<section class="op" id="' + id + '"><div><span class="method ' + method + '">' + method.toUpperCase() + '</span><code>' + esc(path) + '</code></div>';
      if (op.summary) html += '<p><strong>' + esc(op.summary) + '</strong></p>';
      if (op.description) html += '<p>' + esc(op.description) + '</p>';
      if (op.parameters && op.parameters.length) {
        html += '<h3>Parameters</h3><table><tr><th>Name</th><th>In</th><th>Type</th><th>Description</th></tr>' +
          op.parameters.map((p) => '<tr><td><code>' + esc(p.name) + '</code>' + (p.required ? ' *' : '') + '</td><td>' + esc(p.in) + '</td><td><code>' + esc(typeOf(p.schema)) + '</code></td><td>' + esc(p.description || '') + '</td></tr>').join('') + '</table>';
      }
      const body = op.requestBody && op.requestBody.content && op.requestBody.content['application/json'];
      if (body) html += '<h3>Request body</h3>' + props(body.schema);
      html += '<h3>Responses</h3><table><tr><th>Status</th><th>Description</th><th>Body</th></tr>' +
        Object.entries(op.responses || {}).map(([code, r]) => {
          const c = r.content && (r.content['application/json'] || r.content['application/problem+json']);
          return '<tr><td><code>' + esc(code) + '</code></td><td>' + esc(r.description) + '</td><td><code>' + esc(c ? typeOf(c.schema) : '') + '</code></td></tr>';
        }).join('') + '</table>';
      html += '<pre>curl -X ' + method.toUpperCase() + ' "$TOLLGATE_URL' + esc(base + path) + '" -H "Authorization: Bearer $TOLLGATE_ADMIN_TOKEN"' + (body ? ' -H "content-type: application/json" -d @body.json' : '') + '</pre>';
      main += html + '</section>';
    }
  }
  main += '<h2>Schemas</h2>' + Object.entries(schemas).map(([name, s]) => '<section class="op" id="schema-' + esc(name) + '"><h3>' + esc(name) + '</h3>' + esc(s.description || '') + props(s) + '</section>').join('');
  document.getElementById('nav').innerHTML = nav;
  document.getElementById('main').innerHTML = main;
})().catch((e) => { document.getElementById('desc').textContent = 'Could not load the OpenAPI document: ' + e.message; });
</script>
</body>
</html>`;
}

function escapeHtml(text: string): string {
  return text.replace(
    /[&<>"']/g,
    (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c]!,
  );
}
