import { createContext } from 'react';
import type { Session } from './session';

/** Replaces the signed-in session of the console (an admin starting to act as someone). */
export const SessionSwitch = createContext<(s: Session) => void>(() => {});
