/**
 * The HTML around every dashboard page. Its style and script carry the response's CSP nonce, so
 * the pages need no 'unsafe-inline' (see pageHeaders in routes.ts).
 */
export function pageShell(options: { title: string; nonce: string; style: string; body: string; script?: string }): string {
  const { title, nonce, style, body, script } = options;
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>${title}</title>
<link rel="icon" href="data:,">
<style nonce="${nonce}">${style}</style>
</head>
<body>
${body}
${script ? `<script nonce="${nonce}">${script}</script>` : ""}
</body>
</html>
`;
}
