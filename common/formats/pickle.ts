// A pickle reader that never executes anything. Python's unpickler is a small stack machine
// whose GLOBAL/REDUCE opcodes import and call arbitrary functions — which is why a
// pytorch_model.bin from a stranger can run `os.system`. This VM knows only the opcodes
// PyTorch's `weights_only=True` unpickler accepts, and it resolves a GLOBAL only through a
// table the caller passes (for state dicts: OrderedDict, the tensor rebuild functions and the
// storage types; see main/io/models/torch-bin.ts). Any other global is refused at the GLOBAL
// opcode, before a REDUCE could ever reach it, with the global named in the error.
//
// Values: str -> string, int -> number (bigint past 2^53), float -> number, bytes ->
// Uint8Array, None -> null, bool -> boolean, list -> array, tuple -> frozen array,
// dict -> Map. Globals and their results are whatever the caller's table returns.
import { AppError } from '../contract/errors';

export interface PickleGlobal {
  /** 'module.name', for messages. */
  readonly qualifiedName: string;
  /** REDUCE: called with the argument tuple; returns the value pushed. */
  call?(args: readonly unknown[]): unknown;
}

export interface PickleOptions {
  /** Resolves GLOBAL module + name; return undefined to refuse it. */
  resolveGlobal(module: string, name: string): PickleGlobal | undefined;
  /** BINPERSID: resolves a persistent id (torch: storages). Undefined means "not allowed". */
  persistentLoad?(pid: unknown): unknown;
  /** BUILD: applies state to an object; return false to refuse. Defaults to refusing. */
  build?(target: unknown, state: unknown): boolean;
  /** For messages: the file the pickle came from. */
  source?: string;
}

/** Opcode names, for refusal messages (every opcode pickle knows, allowed or not). */
const OPCODE_NAMES: Record<number, string> = {
  0x28: 'MARK', 0x2e: 'STOP', 0x30: 'POP', 0x31: 'POP_MARK', 0x32: 'DUP', 0x46: 'FLOAT', 0x49: 'INT',
  0x4a: 'BININT', 0x4b: 'BININT1', 0x4c: 'LONG', 0x4d: 'BININT2', 0x4e: 'NONE', 0x50: 'PERSID',
  0x51: 'BINPERSID', 0x52: 'REDUCE', 0x53: 'STRING', 0x54: 'BINSTRING', 0x55: 'SHORT_BINSTRING',
  0x56: 'UNICODE', 0x58: 'BINUNICODE', 0x61: 'APPEND', 0x62: 'BUILD', 0x63: 'GLOBAL', 0x64: 'DICT',
  0x7d: 'EMPTY_DICT', 0x65: 'APPENDS', 0x67: 'GET', 0x68: 'BINGET', 0x69: 'INST', 0x6a: 'LONG_BINGET',
  0x6c: 'LIST', 0x5d: 'EMPTY_LIST', 0x6f: 'OBJ', 0x70: 'PUT', 0x71: 'BINPUT', 0x72: 'LONG_BINPUT',
  0x73: 'SETITEM', 0x74: 'TUPLE', 0x29: 'EMPTY_TUPLE', 0x75: 'SETITEMS', 0x47: 'BINFLOAT', 0x80: 'PROTO',
  0x81: 'NEWOBJ', 0x82: 'EXT1', 0x83: 'EXT2', 0x84: 'EXT4', 0x85: 'TUPLE1', 0x86: 'TUPLE2', 0x87: 'TUPLE3',
  0x88: 'NEWTRUE', 0x89: 'NEWFALSE', 0x8a: 'LONG1', 0x8b: 'LONG4', 0x42: 'BINBYTES', 0x43: 'SHORT_BINBYTES',
  0x8c: 'SHORT_BINUNICODE', 0x8d: 'BINUNICODE8', 0x8e: 'BINBYTES8', 0x8f: 'EMPTY_SET', 0x90: 'ADDITEMS',
  0x91: 'FROZENSET', 0x92: 'NEWOBJ_EX', 0x93: 'STACK_GLOBAL', 0x94: 'MEMOIZE', 0x95: 'FRAME',
  0x96: 'BYTEARRAY8', 0x97: 'NEXT_BUFFER', 0x98: 'READONLY_BUFFER',
};

export function refusedGlobalError(module: string, name: string, source = 'pickle'): AppError {
  return new AppError(
    'corrupt_file',
    `${source}: refused to load: the pickle names the global ${module}.${name}, which is not on the allow-list ` +
      '(only tensors, storages and OrderedDict are loaded; nothing in the file is executed)',
  );
}

export function unpickle(bytes: Uint8Array, options: PickleOptions): unknown {
  const src = options.source ?? 'pickle';
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const utf8 = new TextDecoder('utf-8', { fatal: true });
  const stack: unknown[] = [];
  const marks: number[] = [];
  const memo = new Map<number, unknown>();
  let pos = 0;

  const fail = (what: string): never => {
    throw new AppError('corrupt_file', `${src}: ${what} (at byte ${pos})`);
  };
  const need = (n: number): void => {
    if (pos + n > bytes.length) fail('the pickle ends in the middle of an opcode: truncated?');
  };
  const u8 = (): number => {
    need(1);
    return bytes[pos++];
  };
  const u16 = (): number => {
    need(2);
    const v = view.getUint16(pos, true);
    pos += 2;
    return v;
  };
  const u32 = (): number => {
    need(4);
    const v = view.getUint32(pos, true);
    pos += 4;
    return v;
  };
  const u64 = (): number => {
    need(8);
    const v = view.getBigUint64(pos, true);
    pos += 8;
    if (v > BigInt(Number.MAX_SAFE_INTEGER)) fail('length too large');
    return Number(v);
  };
  const take = (n: number): Uint8Array => {
    need(n);
    const b = bytes.subarray(pos, pos + n);
    pos += n;
    return b;
  };
  const str = (n: number): string => {
    try {
      return utf8.decode(take(n));
    } catch (e) {
      if (e instanceof AppError) throw e;
      return fail('a string is not valid UTF-8');
    }
  };
  const line = (): string => {
    const end = bytes.indexOf(0x0a, pos);
    if (end < 0) fail('a GLOBAL line has no newline: truncated?');
    const s = new TextDecoder('latin1').decode(bytes.subarray(pos, end));
    pos = end + 1;
    return s;
  };
  const pop = (): unknown => {
    if (stack.length === 0 || (marks.length && stack.length <= marks[marks.length - 1])) fail('stack underflow');
    return stack.pop();
  };
  const top = (): unknown => {
    if (stack.length === 0) fail('stack underflow');
    return stack[stack.length - 1];
  };
  const popMark = (): unknown[] => {
    const m = marks.pop();
    if (m === undefined) fail('no MARK on the stack');
    return stack.splice(m as number);
  };
  const tuple = (items: unknown[]): readonly unknown[] => Object.freeze(items);
  const setItems = (target: unknown, items: unknown[]): void => {
    if (!(target instanceof Map)) fail('SETITEM(S) on something that is not a dict');
    if (items.length % 2) fail('SETITEMS with an odd number of items');
    for (let i = 0; i < items.length; i += 2) (target as Map<unknown, unknown>).set(items[i], items[i + 1]);
  };
  const appendItems = (target: unknown, items: unknown[]): void => {
    if (!Array.isArray(target) || Object.isFrozen(target)) fail('APPEND(S) on something that is not a list');
    (target as unknown[]).push(...items);
  };
  const resolve = (module: string, name: string): PickleGlobal => {
    const g = options.resolveGlobal(module, name);
    if (!g) throw refusedGlobalError(module, name, src);
    return g;
  };
  const signedLong = (b: Uint8Array): number | bigint => {
    if (b.length === 0) return 0;
    let v = 0n;
    for (let i = b.length - 1; i >= 0; i--) v = (v << 8n) | BigInt(b[i]);
    if (b[b.length - 1] & 0x80) v -= 1n << BigInt(8 * b.length);
    return v >= BigInt(Number.MIN_SAFE_INTEGER) && v <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(v) : v;
  };

  for (;;) {
    if (pos >= bytes.length) fail('the pickle ends without STOP: truncated?');
    const at = pos;
    const op = bytes[pos++];
    switch (op) {
      case 0x80: // PROTO
        if (u8() > 5) fail('unknown pickle protocol');
        break;
      case 0x95: // FRAME: a length hint only
        u64();
        break;
      case 0x2e: // STOP
        if (stack.length !== 1) fail(`STOP with ${stack.length} values on the stack`);
        return stack[0];
      case 0x28: // MARK
        marks.push(stack.length); // a mark is a stack position; nothing is pushed
        break;
      case 0x30: // POP
        if (marks.length && stack.length === marks[marks.length - 1]) marks.pop();
        else pop();
        break;
      case 0x31: // POP_MARK
        popMark();
        break;
      case 0x32: // DUP
        stack.push(top());
        break;
      case 0x4e: // NONE
        stack.push(null);
        break;
      case 0x88: // NEWTRUE
        stack.push(true);
        break;
      case 0x89: // NEWFALSE
        stack.push(false);
        break;
      case 0x4a: // BININT
        need(4);
        stack.push(view.getInt32(pos, true));
        pos += 4;
        break;
      case 0x4b: // BININT1
        stack.push(u8());
        break;
      case 0x4d: // BININT2
        stack.push(u16());
        break;
      case 0x8a: // LONG1
        stack.push(signedLong(take(u8())));
        break;
      case 0x8b: {
        // LONG4
        const n = u32();
        if (n > 64) fail('LONG4 integer too large');
        stack.push(signedLong(take(n)));
        break;
      }
      case 0x47: // BINFLOAT (big-endian double)
        need(8);
        stack.push(view.getFloat64(pos, false));
        pos += 8;
        break;
      case 0x58: // BINUNICODE
        stack.push(str(u32()));
        break;
      case 0x8c: // SHORT_BINUNICODE
        stack.push(str(u8()));
        break;
      case 0x8d: // BINUNICODE8
        stack.push(str(u64()));
        break;
      case 0x42: // BINBYTES
        stack.push(take(u32()).slice());
        break;
      case 0x43: // SHORT_BINBYTES
        stack.push(take(u8()).slice());
        break;
      case 0x8e: // BINBYTES8
        stack.push(take(u64()).slice());
        break;
      case 0x29: // EMPTY_TUPLE
        stack.push(tuple([]));
        break;
      case 0x74: // TUPLE
        stack.push(tuple(popMark()));
        break;
      case 0x85: // TUPLE1
        stack.push(tuple([pop()]));
        break;
      case 0x86: {
        // TUPLE2
        const b = pop();
        const a = pop();
        stack.push(tuple([a, b]));
        break;
      }
      case 0x87: {
        // TUPLE3
        const c = pop();
        const b = pop();
        const a = pop();
        stack.push(tuple([a, b, c]));
        break;
      }
      case 0x5d: // EMPTY_LIST
        stack.push([]);
        break;
      case 0x6c: // LIST
        stack.push(popMark());
        break;
      case 0x61: {
        // APPEND
        const v = pop();
        appendItems(top(), [v]);
        break;
      }
      case 0x65: {
        // APPENDS
        const items = popMark();
        appendItems(top(), items);
        break;
      }
      case 0x7d: // EMPTY_DICT
        stack.push(new Map());
        break;
      case 0x64: {
        // DICT
        const m = new Map();
        setItems(m, popMark());
        stack.push(m);
        break;
      }
      case 0x73: {
        // SETITEM
        const v = pop();
        const k = pop();
        setItems(top(), [k, v]);
        break;
      }
      case 0x75: {
        // SETITEMS
        const items = popMark();
        setItems(top(), items);
        break;
      }
      case 0x71: // BINPUT
        memo.set(u8(), top());
        break;
      case 0x72: // LONG_BINPUT
        memo.set(u32(), top());
        break;
      case 0x94: // MEMOIZE
        memo.set(memo.size, top());
        break;
      case 0x68: // BINGET
      case 0x6a: {
        // LONG_BINGET
        const k = op === 0x68 ? u8() : u32();
        if (!memo.has(k)) fail(`memo key ${k} was never stored`);
        stack.push(memo.get(k));
        break;
      }
      case 0x63: {
        // GLOBAL "module\nname\n"
        const module = line();
        const name = line();
        stack.push(resolve(module, name));
        break;
      }
      case 0x93: {
        // STACK_GLOBAL
        const name = pop();
        const module = pop();
        if (typeof module !== 'string' || typeof name !== 'string') fail('STACK_GLOBAL needs two strings');
        stack.push(resolve(module as string, name as string));
        break;
      }
      case 0x52: {
        // REDUCE
        const args = pop();
        const fn = pop() as PickleGlobal;
        if (!Array.isArray(args)) fail('REDUCE arguments are not a tuple');
        if (!fn || typeof fn !== 'object' || typeof fn.call !== 'function') {
          fail('REDUCE on something that is not an allowed callable');
        }
        stack.push(fn.call!(args as unknown[]));
        break;
      }
      case 0x81: {
        // NEWOBJ cls.__new__(cls, *args): only for allowed globals, handled like a call
        const args = pop();
        const cls = pop() as PickleGlobal;
        if (!Array.isArray(args) || !cls || typeof cls.call !== 'function') fail('NEWOBJ on something not allowed');
        stack.push(cls.call!(args as unknown[]));
        break;
      }
      case 0x62: {
        // BUILD
        const state = pop();
        const target = top();
        if (!options.build || !options.build(target, state)) fail('BUILD (setting object state) is not allowed here');
        break;
      }
      case 0x51: {
        // BINPERSID
        const pid = pop();
        if (!options.persistentLoad) fail('persistent ids are not allowed here');
        stack.push(options.persistentLoad!(pid));
        break;
      }
      default: {
        pos = at;
        const name = OPCODE_NAMES[op];
        fail(
          name
            ? `refused pickle opcode ${name} (not on the weights-only allow-list)`
            : `unknown pickle opcode 0x${op.toString(16).padStart(2, '0')}`,
        );
      }
    }
  }
}
