import { setTheme, useTheme } from './theme';

export function ThemeToggle() {
  const theme = useTheme();
  return (
    <button type="button" className="ghost" aria-pressed={theme === 'dark'} onClick={() => setTheme(theme === 'dark' ? 'light' : 'dark')}>
      {theme === 'dark' ? 'Light theme' : 'Dark theme'}
    </button>
  );
}
