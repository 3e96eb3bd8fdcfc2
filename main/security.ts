// The Content-Security-Policy of every page the app shows: the Electron window (response
// header + the <meta> tag in renderer/index.html) and `hukuk serve` (response header).
// Scripts only from the app itself; inline styles allowed because MUI/emotion inject
// <style> tags; no plugins, no frames, no forms posting elsewhere, no <base> hijack.
// connect-src 'self' covers the same-origin WebSocket of `hukuk serve` (CSP 3).
export const CONTENT_SECURITY_POLICY = [
  "default-src 'self'",
  "script-src 'self'",
  "style-src 'self' 'unsafe-inline'",
  "img-src 'self' data: blob:",
  "font-src 'self' data:",
  "connect-src 'self'",
  "object-src 'none'",
  "frame-src 'none'",
  "base-uri 'none'",
  "form-action 'none'",
].join('; ');

/** The header form adds what a <meta> tag cannot carry, and the exact WebSocket origin. */
export function cspHeader(wsOrigin?: string): string {
  const base = wsOrigin
    ? CONTENT_SECURITY_POLICY.replace("connect-src 'self'", `connect-src 'self' ${wsOrigin}`)
    : CONTENT_SECURITY_POLICY;
  return `${base}; frame-ancestors 'none'`;
}
