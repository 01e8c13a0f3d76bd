// Pure rules of share links: the form's input, how a link reads, and what the public page asks.
import type { SharedVariable, ShareInput, ShareView } from './api';

const PREFIX = 'nxs_';

/** The tenant a token belongs to (`nxs_<tenant>_<secret>`), for its branding; null if the
 * token has another shape. */
export function tenantOfToken(token: string): string | null {
  if (!token.startsWith(PREFIX)) return null;
  const rest = token.slice(PREFIX.length);
  const cut = rest.lastIndexOf('_');
  return cut > 0 ? rest.slice(0, cut) : null;
}

/** The console's address of a link: the public page, not the API. */
export function shareUrl(origin: string, token: string): string {
  return `${origin}/shared/${encodeURIComponent(token)}`;
}

export function resourceLabel(resource: string): string {
  const [kind, ...rest] = resource.split('/');
  const name = rest.join('/');
  return kind === 'dashboard' ? `Dashboard ${name}` : kind === 'query' ? `Saved query ${name}` : resource;
}

export function shareState(s: Pick<ShareView, 'expiresAt'>, now = Date.now()): 'active' | 'expired' {
  return s.expiresAt && Date.parse(s.expiresAt) <= now ? 'expired' : 'active';
}

export interface ShareForm {
  expiresInHours: string;
  password: string;
  /** Variables to fix, with their value. */
  locked: Record<string, string>;
}

/** The `POST /shares` body of the form, or the errors keyed by the field the server would name. */
export function shareInput(resource: string, f: ShareForm): { input: ShareInput } | { errors: Record<string, string> } {
  const errors: Record<string, string> = {};
  const input: ShareInput = { resource };
  const h = f.expiresInHours.trim();
  if (h) {
    const n = Number(h);
    if (!Number.isInteger(n) || n < 1 || n > 8760) errors.expiresInHours = 'a whole number of hours, 1 to 8760 (or empty: until revoked)';
    else input.expiresInHours = n;
  }
  if (f.password) {
    if ([...f.password].length < 8 || f.password.length > 200) errors.password = '8 to 200 characters (or empty: no password)';
    else input.password = f.password;
  }
  const locked = Object.fromEntries(Object.entries(f.locked).filter(([, v]) => v !== ''));
  if (Object.keys(locked).length) input.lockedVariables = locked;
  return Object.keys(errors).length ? { errors } : { input };
}

/** The values a shared dashboard is asked with: a locked variable keeps the link's value, the
 * others what the viewer chose, else their default. */
export function sharedValues(variables: SharedVariable[], chosen: Record<string, string>): Record<string, string> {
  const out: Record<string, string> = {};
  for (const v of variables) {
    const val = v.locked ? v.default : (chosen[v.name] ?? v.default);
    if (val !== undefined && val !== null) out[v.name] = val;
  }
  return out;
}
