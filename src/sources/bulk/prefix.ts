/**
 * A `_bulk` record's body in the ring: `u8 n | the URL's default index (n bytes, UTF-8) |
 * u16le m | filter_path (m bytes)` and then the body exactly as received (still compressed when
 * it came so). They travel with the bytes because the worker, not the main thread, decides each
 * item's `_index` and renders the answer; the prefix stays outside the compressed part so the
 * main thread never touches the body.
 */
const enc = new TextEncoder();
const dec = new TextDecoder();

/** Longest index name Elasticsearch allows (bytes), so the length fits the u8. */
export const MAX_INDEX_BYTES = 255;
/** Longest filter_path carried (bytes); a longer one is refused by the door. */
export const MAX_FILTER_PATH_BYTES = 4096;

export interface BulkOptions {
  /** From `/{index}/_bulk`; undefined for `/_bulk`. */
  index?: string;
  filterPath?: string;
}

/** The prefix for one request. Throws RangeError over the limits above. */
export function encodeBulkPrefix(o: BulkOptions): Uint8Array {
  const index = enc.encode(o.index ?? '');
  const filter = enc.encode(o.filterPath ?? '');
  if (index.length > MAX_INDEX_BYTES) throw new RangeError('index name longer than 255 bytes');
  if (filter.length > MAX_FILTER_PATH_BYTES) throw new RangeError('filter_path too long');
  const out = new Uint8Array(3 + index.length + filter.length);
  out[0] = index.length;
  out.set(index, 1);
  out[1 + index.length] = filter.length & 0xff;
  out[2 + index.length] = filter.length >> 8;
  out.set(filter, 3 + index.length);
  return out;
}

/** Splits a record body into the options and the client's body (a view, not a copy). */
export function decodeBulkPrefix(body: Uint8Array): { options: BulkOptions; rest: Uint8Array } {
  const n = body[0] ?? 0;
  const m = (body[1 + n] ?? 0) | ((body[2 + n] ?? 0) << 8);
  // Copy before decoding: TextDecoder refuses views of a SharedArrayBuffer on some runtimes.
  const options: BulkOptions = {};
  if (n > 0) options.index = dec.decode(body.slice(1, 1 + n));
  if (m > 0) options.filterPath = dec.decode(body.slice(3 + n, 3 + n + m));
  return { options, rest: body.subarray(3 + n + m) };
}
