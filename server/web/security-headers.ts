// The security headers of every response of the web app. Pure, so that the policy is tested as
// text; serve.ts sets the fixed ones on every response (static files and errors too),
// proxy.ts the Content-Security-Policy with a fresh nonce per page.

/**
 * Scripts run only with this response's nonce (Next puts it on its own script tags) or when loaded
 * by such a script; nothing may frame the app; forms post only to it. Styles allow inline
 * attributes: React writes computed widths and colours as style attributes, which no nonce can
 * cover, and CSS cannot run script.
 */
export function contentSecurityPolicy(nonce: string): string {
  if (!/^[A-Za-z0-9+/=]{16,}$/.test(nonce)) throw new Error("a CSP nonce is at least 16 base64 characters");
  return [
    "default-src 'self'",
    `script-src 'self' 'nonce-${nonce}' 'strict-dynamic'`,
    "style-src 'self' 'unsafe-inline'",
    "img-src 'self' data:",
    "font-src 'self'",
    "connect-src 'self'",
    "object-src 'none'",
    "base-uri 'none'",
    "form-action 'self'",
    "frame-ancestors 'none'",
  ].join("; ");
}

/** Headers every response carries, whatever produced it. */
export const FIXED_SECURITY_HEADERS: Readonly<Record<string, string>> = {
  "X-Frame-Options": "DENY",
  "X-Content-Type-Options": "nosniff",
  "Referrer-Policy": "no-referrer",
  "Cross-Origin-Opener-Policy": "same-origin",
  "Permissions-Policy": "camera=(), microphone=(), geolocation=(), payment=(), usb=()",
};

/** Sent over HTTPS only (behind a TLS proxy that says so): a browser then refuses plain HTTP for a year. */
export const HSTS = "max-age=31536000";
