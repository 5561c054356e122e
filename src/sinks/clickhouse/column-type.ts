/**
 * ClickHouse column types as ferry converts to them: the type text from `system.columns` parsed
 * into a plain (structured-clone-able) tree the worker threads walk for every row.
 */
export type ColumnType =
  | { k: 'int'; bits: 8 | 16 | 32 | 64 | 128 | 256; signed: boolean }
  | { k: 'float'; bits: 32 | 64 }
  | { k: 'bool' }
  | { k: 'string' }
  | { k: 'fixed'; n: number }
  | { k: 'uuid' }
  | { k: 'date' }
  | { k: 'datetime' }
  | { k: 'datetime64'; precision: number }
  | { k: 'ipv4' }
  | { k: 'ipv6' }
  | { k: 'enum'; values: string[] }
  | { k: 'nullable'; of: ColumnType }
  | { k: 'array'; of: ColumnType }
  | { k: 'map'; key: ColumnType; value: ColumnType }
  | { k: 'json' }
  /** A type ferry does not convert (Decimal, Tuple, …): the event's JSON value is sent as it is. */
  | { k: 'raw'; type: string };

/** Parse a type as `system.columns.type` spells it. */
export function parseColumnType(text: string): ColumnType {
  const t = text.trim();
  const m = /^([A-Za-z0-9_]+)\s*(?:\((.*)\))?$/s.exec(t);
  if (!m) return { k: 'raw', type: t };
  const [, name, inner] = m;
  const args = inner === undefined ? [] : splitArgs(inner);
  switch (name) {
    case 'Int8':
    case 'Int16':
    case 'Int32':
    case 'Int64':
    case 'Int128':
    case 'Int256':
      return { k: 'int', bits: Number(name.slice(3)) as 8, signed: true };
    case 'UInt8':
    case 'UInt16':
    case 'UInt32':
    case 'UInt64':
    case 'UInt128':
    case 'UInt256':
      return { k: 'int', bits: Number(name.slice(4)) as 8, signed: false };
    case 'Float32':
      return { k: 'float', bits: 32 };
    case 'Float64':
      return { k: 'float', bits: 64 };
    case 'Bool':
    case 'Boolean':
      return { k: 'bool' };
    case 'String':
      return { k: 'string' };
    case 'FixedString':
      return { k: 'fixed', n: Number(args[0]) };
    case 'UUID':
      return { k: 'uuid' };
    case 'Date':
    case 'Date32':
      return { k: 'date' };
    case 'DateTime':
      return { k: 'datetime' };
    case 'DateTime64':
      return { k: 'datetime64', precision: Number(args[0] ?? 3) };
    case 'IPv4':
      return { k: 'ipv4' };
    case 'IPv6':
      return { k: 'ipv6' };
    case 'Enum8':
    case 'Enum16':
      return {
        k: 'enum',
        values: args.map((a) => {
          const q = /^'((?:[^'\\]|\\.)*)'/.exec(a.trim());
          return q ? q[1].replace(/\\(.)/g, '$1') : a.trim();
        }),
      };
    case 'Nullable':
      return { k: 'nullable', of: parseColumnType(args[0]) };
    case 'LowCardinality':
      return parseColumnType(args[0]);
    case 'Array':
      return { k: 'array', of: parseColumnType(args[0]) };
    case 'Map':
      return { k: 'map', key: parseColumnType(args[0]), value: parseColumnType(args[1]) };
    case 'JSON':
    case 'Object':
      return { k: 'json' };
    default:
      return { k: 'raw', type: t };
  }
}

/** Split `a, b(c, d), 'e,f'` at its top-level commas. */
function splitArgs(s: string): string[] {
  const out: string[] = [];
  let depth = 0;
  let quoted = false;
  let start = 0;
  for (let i = 0; i < s.length; i++) {
    const c = s[i];
    if (quoted) {
      if (c === '\\') i++;
      else if (c === "'") quoted = false;
    } else if (c === "'") quoted = true;
    else if (c === '(') depth++;
    else if (c === ')') depth--;
    else if (c === ',' && depth === 0) {
      out.push(s.slice(start, i).trim());
      start = i + 1;
    }
  }
  out.push(s.slice(start).trim());
  return out;
}
