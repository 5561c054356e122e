/**
 * A record batch ferry cannot decode must stay that partition's problem. kafkajs decodes a whole
 * fetch response at once, and one batch whose decompression throws (a codec it lacks, corrupt
 * bytes) fails the response for every partition of that broker and crashes the consumer, which
 * then restarts, fetches the same batch and crashes again (issue 17: 79 restarts in 20 s, and
 * no partition consumed).
 *
 * So the Fetch v11 response decoder (what kafkajs 2.2 speaks to any broker since Kafka 2.3) is
 * replaced by this copy of it, which differs in one place: a batch that fails to decode ends
 * its partition's records there with an Undecodable marker, whose offset is the batch's last
 * one (so kafkajs keeps it, whatever offset the fetch started at) and which says what failed.
 * The other partitions of the response decode as before. The source (source.ts) delivers what
 * came before the marker and holds the partition at the batch (undecodable.ts).
 *
 * Installed by mutating the exports object of kafkajs's v11 response module, which kafkajs looks
 * up on every response: no copy of kafkajs, no loader hooks.
 */
import { createRequire } from 'node:module';

const require = createRequire(import.meta.url);

/** What the decoder found in place of a record batch it could not read. */
export interface UndecodableBatch {
  /** First and last offset the batch header declares (decimal strings, like kafkajs offsets). */
  baseOffset: string;
  lastOffset: string;
  /** Compression codec bits of the batch attributes (0 none … 4 zstd; 5–7 are not defined). */
  codec: number;
  error: string;
}

const MARK = Symbol.for('ferry.kafka.undecodable');

/** The marker a message carries when it stands for an undecodable batch, or undefined. */
export function undecodableOf(message: object): UndecodableBatch | undefined {
  return (message as { [MARK]?: UndecodableBatch })[MARK];
}

interface KDecoder {
  offset: number;
  buffer: Buffer;
  readInt16(): number;
  readInt32(): number;
  readInt64(): { toString(): string };
  readString(): string;
  readArray<T>(f: (d: KDecoder) => T): T[];
  readArrayAsync<T>(f: (d: KDecoder) => Promise<T>): Promise<T[]>;
  readBytes(n: number): Buffer;
  canReadBytes(n: number): boolean;
}

const KAFKAJS = 'kafkajs/src/protocol';
const RECORD_BATCH_MAGIC = 2;
const MAGIC_OFFSET = 16;
const RECORD_BATCH_OVERHEAD = 49;
const KNOWN_CODECS = 4;

let installed = false;

/** Idempotent; throws if kafkajs's internals are not where 2.2.x has them. */
export function installFetchDecoder(): void {
  if (installed) return;
  const Decoder = require(`${KAFKAJS}/decoder`) as new (b: Buffer) => KDecoder;
  const decodeRecordBatch = require(`${KAFKAJS}/recordBatch/v0/decoder`) as (
    d: KDecoder,
  ) => Promise<{ records: object[] }>;
  const decodeMessageSet = require(`${KAFKAJS}/messageSet/decoder`) as (
    d: KDecoder,
    size: number,
  ) => Promise<object[]>;
  const v11 = require(`${KAFKAJS}/requests/fetch/v11/response`) as {
    decode: (raw: Buffer) => Promise<unknown>;
  };

  const marker = (buf: Buffer, at: number, codec: number, err: unknown): object => {
    const base = buf.readBigInt64BE(at);
    const lastDelta = at + 27 <= buf.length ? buf.readInt32BE(at + 23) : 0;
    const info: UndecodableBatch = {
      baseOffset: base.toString(),
      lastOffset: (base + BigInt(lastDelta)).toString(),
      codec,
      error: (err as Error)?.message ?? String(err),
    };
    // Shaped like a kafkajs message so its Batch keeps it (offset filter, aborted-transaction filter).
    return {
      offset: info.lastOffset,
      key: null,
      value: null,
      headers: {},
      timestamp: '-1',
      attributes: 0,
      isControlRecord: false,
      batchContext: { producerId: '-1', inTransaction: false, isControlBatch: false },
      [MARK]: info,
    };
  };

  const decodeMessages = async (decoder: KDecoder): Promise<object[]> => {
    const size = decoder.readInt32();
    if (size <= 0 || !decoder.canReadBytes(size)) return [];
    const buf = decoder.readBytes(size);
    const messages = new Decoder(buf);
    if (buf.length <= MAGIC_OFFSET || buf.readInt8(MAGIC_OFFSET) !== RECORD_BATCH_MAGIC)
      return decodeMessageSet(messages, size);
    const records: object[] = [];
    while (messages.canReadBytes(RECORD_BATCH_OVERHEAD)) {
      const at = messages.offset;
      const codec = buf.readInt16BE(at + 21) & 0x07;
      try {
        // kafkajs reads a batch with undefined codec bits as if it were uncompressed.
        if (codec > KNOWN_CODECS) throw new Error(`unknown compression codec ${codec}`);
        records.push(...(await decodeRecordBatch(messages)).records);
      } catch (err) {
        // A batch cut short by the fetch size limit: the next fetch starts with it.
        if ((err as Error)?.name === 'KafkaJSPartialMessageError') break;
        records.push(marker(buf, at, codec, err));
        break;
      }
    }
    return records;
  };

  const decodePartition = async (d: KDecoder) => ({
    partition: d.readInt32(),
    errorCode: d.readInt16(),
    highWatermark: d.readInt64().toString(),
    lastStableOffset: d.readInt64().toString(),
    lastStartOffset: d.readInt64().toString(),
    abortedTransactions: d.readArray((a) => ({
      producerId: a.readInt64().toString(),
      firstOffset: a.readInt64().toString(),
    })),
    preferredReadReplica: d.readInt32(),
    messages: await decodeMessages(d),
  });

  v11.decode = async (raw: Buffer) => {
    const d = new Decoder(raw);
    const clientSideThrottleTime = d.readInt32();
    const errorCode = d.readInt16();
    const sessionId = d.readInt32();
    const responses = await d.readArrayAsync(async (t) => ({
      topicName: t.readString(),
      partitions: await t.readArrayAsync(decodePartition),
    }));
    return { throttleTime: 0, clientSideThrottleTime, errorCode, sessionId, responses };
  };
  installed = true;
}
