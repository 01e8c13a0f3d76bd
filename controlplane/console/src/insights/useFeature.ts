import { useAsync } from '../app/useAsync';
import { featureOn } from './api';

/** Whether `name` is on for the caller: null until the server has said (callers hide what it
 * gates meanwhile, and when the question fails: fail closed). */
export function useFeature(name: string): boolean | null {
  const [on] = useAsync((signal) => featureOn(name, signal), [name]);
  if (on.state === 'loading') return null;
  return on.state === 'done' && on.value;
}
