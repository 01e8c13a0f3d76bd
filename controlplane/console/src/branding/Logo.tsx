import { useState } from 'react';
import { useTheme } from '../app/theme';
import { brandParts, type Branding } from './branding';

/** The tenant's logo for the theme, with its name; the name alone when there is no logo or
 * it cannot be loaded (a broken address, or one the CSP refuses: it allows no external
 * image, so an `https://` logo of another host never shows). */
export function BrandMark({ branding, showName = true }: { branding: Branding | null; showName?: boolean }) {
  const theme = useTheme();
  const [broken, setBroken] = useState<string | null>(null);
  const { logo, name, nameShown } = brandParts(branding, theme, broken, showName);
  return (
    <span className="brand" data-testid="brand-mark">
      {logo && <img className="logo" src={logo} alt={nameShown ? '' : name} data-testid="brand-logo" onError={() => setBroken(logo)} />}
      {/* `brand`: the name of the shell and the shared pages (the browser tests wait for it as
          the sign of a session); `brand-name`: the name standing in for a logo on the login
          and embed pages. */}
      {nameShown && <span data-testid={showName ? 'brand' : 'brand-name'}>{name}</span>}
    </span>
  );
}
