// White-labelling: the tenant's branding (`GET /api/v1/branding`, public, so the login page can
// show it before anyone signs in) turned into CSS variables, a logo, a favicon, a title and the
// tenant's sanitised custom CSS. The colour work is pure and unit-tested; `applyBranding`
// is the only part that touches the document.
import { ApiError, request } from '../api/client';
import type { Theme } from '../app/theme';

/** `BrandingView` of the API: fields the tenant leaves out (or that fail its checks) are absent. */
export interface Branding {
  tenant: string;
  displayName: string;
  logoUrl?: string | null;
  darkLogoUrl?: string | null;
  faviconUrl?: string | null;
  primaryColor?: string | null;
  accentColor?: string | null;
  fontFamily?: string | null;
  customCss?: string | null;
  removed?: string[];
  /** Present when the tenant signs in through its identity provider too. */
  sso?: { buttonLabel: string } | null;
}

export const DEFAULT_NAME = 'NexBII';
const DEFAULT_PRIMARY = '#1f6feb';
const DEFAULT_ACCENT = '#f78166';
/** The surfaces brand colours are drawn on (styles.css `--surface`). */
const SURFACE: Record<Theme, string> = { light: '#ffffff', dark: '#161b22' };

/** The branding of `tenant`, or of the tenant whose custom domain this host is (no tenant);
 * null when there is none (404): the console's defaults apply. */
export async function fetchBranding(tenant: string | null, signal?: AbortSignal): Promise<Branding | null> {
  const q = tenant ? `?tenant=${encodeURIComponent(tenant)}` : '';
  try {
    return (await request<Branding>(`/branding${q}`, { signal })).data;
  } catch (e) {
    if (e instanceof ApiError && (e.status === 404 || e.status === 422)) return null;
    throw e;
  }
}

/** Custom domains are DNS names: an address or `localhost` never names a tenant, so the
 * console does not ask (the answer would be a 404). */
export function hostMayBeCustomDomain(hostname: string): boolean {
  const h = hostname.toLowerCase();
  if (!h || h === 'localhost' || h.endsWith('.localhost')) return false;
  if (/^\d{1,3}(\.\d{1,3}){3}$/.test(h)) return false;
  if (h.includes(':') || h.startsWith('[')) return false;
  return h.includes('.');
}

export function parseHex(c: string): [number, number, number] | null {
  const m = /^#([0-9a-f]{3}|[0-9a-f]{6})$/i.exec(c.trim());
  if (!m) return null;
  const h = m[1].length === 3 ? m[1].replace(/./g, (x) => x + x) : m[1];
  return [0, 2, 4].map((i) => parseInt(h.slice(i, i + 2), 16)) as [number, number, number];
}

function toHex([r, g, b]: [number, number, number]): string {
  return `#${[r, g, b].map((v) => Math.round(Math.min(255, Math.max(0, v))).toString(16).padStart(2, '0')).join('')}`;
}

/** WCAG relative luminance. */
export function luminance(c: string): number {
  const rgb = parseHex(c);
  if (!rgb) return 0;
  const [r, g, b] = rgb.map((v) => {
    const s = v / 255;
    return s <= 0.03928 ? s / 12.92 : ((s + 0.055) / 1.055) ** 2.4;
  });
  return 0.2126 * r + 0.7152 * g + 0.0722 * b;
}

/** WCAG contrast ratio (1 to 21). */
export function contrast(a: string, b: string): number {
  const [hi, lo] = [luminance(a), luminance(b)].sort((x, y) => y - x);
  return (hi + 0.05) / (lo + 0.05);
}

/** The colour moved towards white (on dark surfaces) or black (on light ones) just enough to
 * reach `min` contrast against `surface` (3:1: links, borders and focus marks stay visible
 * whatever colour a tenant picks). */
export function readableOn(color: string, surface: string, min = 3): string {
  const rgb = parseHex(color);
  if (!rgb) return color;
  if (contrast(color, surface) >= min) return color.toLowerCase();
  const target = luminance(surface) < 0.5 ? 255 : 0;
  for (let t = 0.05; t <= 1.0001; t += 0.05) {
    const c = toHex(rgb.map((v) => v + (target - v) * t) as [number, number, number]);
    if (contrast(c, surface) >= min) return c;
  }
  return toHex([target, target, target]);
}

/** Black or white, whichever reads better on the colour (button labels on the brand colour). */
export function textOn(color: string): string {
  return contrast(color, '#ffffff') >= contrast(color, '#000000') ? '#ffffff' : '#000000';
}

/** The CSS variables the branding sets for a theme. */
export function brandVariables(b: Branding | null, theme: Theme): Record<string, string> {
  const surface = SURFACE[theme];
  const primary = readableOn(b?.primaryColor && parseHex(b.primaryColor) ? b.primaryColor : DEFAULT_PRIMARY, surface);
  // The accent only marks things (borders, highlights): kept as the tenant chose it.
  const accent = (b?.accentColor && parseHex(b.accentColor) ? b.accentColor : DEFAULT_ACCENT).toLowerCase();
  const vars: Record<string, string> = { '--brand': primary, '--brand-accent': accent, '--on-brand': textOn(primary) };
  if (b?.fontFamily) vars['--font'] = b.fontFamily;
  return vars;
}

/** The logo for the theme: the dark one on dark backgrounds when the tenant has one. */
export function logoFor(b: Branding | null, theme: Theme): string | null {
  if (!b) return null;
  return (theme === 'dark' ? b.darkLogoUrl || b.logoUrl : b.logoUrl) || null;
}

/** What a brand mark shows: the logo unless it failed to load (`broken` is the address that
 * failed), and the name when asked for or when the tenant's branding has no logo to stand in
 * for it (before the branding is known, where the name is not asked for, nothing: the page
 * says the name elsewhere, and a default name would flash). */
export function brandParts(
  b: Branding | null,
  theme: Theme,
  broken: string | null,
  showName: boolean,
): { logo: string | null; name: string; nameShown: boolean } {
  const src = logoFor(b, theme);
  const logo = src && src !== broken ? src : null;
  return { logo, name: b?.displayName || DEFAULT_NAME, nameShown: showName || (!!b && !logo) };
}

let customSheet: CSSStyleSheet | null = null;

/** Puts the branding on the document: variables, title, favicon, custom CSS. */
export function applyBranding(b: Branding | null, theme: Theme): void {
  const root = document.documentElement;
  for (const [k, v] of Object.entries(brandVariables(b, theme))) root.style.setProperty(k, v);
  if (!b?.fontFamily) root.style.removeProperty('--font');
  document.title = b?.displayName || DEFAULT_NAME;
  const icon = document.querySelector<HTMLLinkElement>('link[rel=icon]');
  if (icon) {
    const href = b?.faviconUrl || '/favicon.svg';
    if (icon.getAttribute('href') !== href) {
      icon.setAttribute('href', href);
      icon.removeAttribute('type');
    }
  }
  // Custom CSS as a constructed sheet: a <style> element would need 'unsafe-inline'.
  if (!customSheet && b?.customCss && 'adoptedStyleSheets' in document) customSheet = new CSSStyleSheet();
  if (customSheet) {
    customSheet.replaceSync(b?.customCss ?? '');
    if (!document.adoptedStyleSheets.includes(customSheet)) document.adoptedStyleSheets = [...document.adoptedStyleSheets, customSheet];
  }
}
