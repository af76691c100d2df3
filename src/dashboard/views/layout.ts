import { html, type Html } from '../html';

/** The page frame: head, header with the connection indicator, and the body. */
export function layout(o: { title: string; body: Html; bodyAttrs?: Html; csrfToken?: string }): string {
  return html`<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="color-scheme" content="light dark">
${o.csrfToken ? html`<meta name="csrf-token" content="${o.csrfToken}">` : ''}
<title>${o.title} · Provisioning</title>
<link rel="stylesheet" href="/static/dashboard.css">
<script src="/static/dashboard.js" defer></script>
</head>
<body ${o.bodyAttrs ?? ''}>
<header class="top">
  <a class="brand" href="/">Provisioning</a>
  <nav class="nav"><a href="/">Hosts</a> <a href="/images">Images</a> <a href="/setup">Setup</a> <a href="/audit">Audit</a></nav>
  <span id="connection" class="connection" role="status" aria-live="polite" hidden>reconnecting…</span>
  ${o.csrfToken ? html`<form method="post" action="/logout" class="logout"><button type="submit">Log out</button></form>` : ''}
</header>
<main>
${o.body}
</main>
</body>
</html>
`.value;
}
