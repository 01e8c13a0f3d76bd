import { send } from './client';

/** A download of an authenticated GET: fetched with the session, saved under the name the
 * server gives (`Content-Disposition`) or `fallback`. */
export async function download(path: string, fallback: string): Promise<{ name: string; bytes: number }> {
  return saveResponse(await send(path, { headers: { accept: '*/*' } }), fallback);
}

/** Saves a response's body as a file, under the name the server gives or `fallback`. */
export async function saveResponse(res: Response, fallback: string): Promise<{ name: string; bytes: number }> {
  const blob = await res.blob();
  const name = /filename="?([^";]+)"?/.exec(res.headers.get('content-disposition') ?? '')?.[1] ?? fallback;
  const url = URL.createObjectURL(blob);
  const a = document.createElement('a');
  a.href = url;
  a.download = name;
  document.body.append(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(url), 10_000);
  return { name, bytes: blob.size };
}
