import { useState } from 'react';
import { useTheme } from '../app/theme';
import { DEFAULT_NAME, logoFor, type Branding } from './branding';

/** The tenant's logo for the theme, with its name; the name alone when there is no logo or
 * it cannot be loaded. */
export function BrandMark({ branding, showName = true }: { branding: Branding | null; showName?: boolean }) {
  const theme = useTheme();
  const src = logoFor(branding, theme);
  const [broken, setBroken] = useState<string | null>(null);
  const name = branding?.displayName || DEFAULT_NAME;
  return (
    <span className="brand" data-testid="brand-mark">
      {src && broken !== src && <img className="logo" src={src} alt={showName ? '' : name} data-testid="brand-logo" onError={() => setBroken(src)} />}
      {showName && <span data-testid="brand">{name}</span>}
    </span>
  );
}
