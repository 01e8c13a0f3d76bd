// Splits a streamed NDJSON body into JSON values as lines complete.
export class NdjsonSplitter<T> {
  private buf = '';
  push(chunk: string): T[] {
    this.buf += chunk;
    const lines = this.buf.split('\n');
    this.buf = lines.pop() ?? '';
    return lines.filter((l) => l.trim()).map((l) => JSON.parse(l) as T);
  }
  end(): T[] {
    const rest = this.buf.trim();
    this.buf = '';
    return rest ? [JSON.parse(rest) as T] : [];
  }
}
