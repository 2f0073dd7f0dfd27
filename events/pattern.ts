/**
 * EventBridge event-pattern matching, in process.
 *
 * The local engine routes events with the same routing table that becomes EventBridge rules on AWS
 * (ARCHITECTURE.md §1, §7), so a pattern must mean exactly the same thing in both places. The semantics
 * follow the EventBridge user guide ("Amazon EventBridge event patterns", "Comparison operators for
 * use in event patterns", "Arrays in Amazon EventBridge event patterns", "Matching null values and
 * empty strings") and, where the guide is silent, aws/event-ruler — the library EventBridge uses:
 *
 * - fields in a pattern are ANDed; the values listed for one field are ORed; `$or` ORs whole
 *   sub-patterns at any level;
 * - an event array matches when any of its elements matches; arrays of objects are "crushed" into
 *   their parent field, but fields from different elements of one array never combine into a match;
 * - a field that is missing, or is an object (not a leaf), or is an empty array, matches nothing
 *   except `{ "exists": false }` — not even `anything-but`;
 * - strings match character by character; numbers match by value (`5` matches `5.0`); a string
 *   never matches a number, `null` never matches `""`.
 */

import { BlockList, isIP } from 'node:net';

/** The comparison operators a `numeric` filter accepts. */
export const NUMERIC_OPERATORS = ['=', '<', '<=', '>', '>='] as const;
export type NumericOperator = (typeof NUMERIC_OPERATORS)[number];

/** The filter operators a match-value object may use (one per object). */
export const FILTER_OPERATORS = [
  'prefix',
  'suffix',
  'equals-ignore-case',
  'wildcard',
  'anything-but',
  'numeric',
  'exists',
  'cidr',
] as const;
export type FilterOperator = (typeof FILTER_OPERATORS)[number];

/** The forms `anything-but` accepts as an object: `{ "anything-but": { "prefix": "init" } }`. */
export const ANYTHING_BUT_OPERATORS = ['prefix', 'suffix', 'equals-ignore-case', 'wildcard'] as const;
export type AnythingButOperator = (typeof ANYTHING_BUT_OPERATORS)[number];

/**
 * Numeric filters and numeric `anything-but` values are limited to ±5e9 with at most six decimal
 * places (event-ruler's ComparableNumber); event values outside the range never match `numeric`.
 */
export const NUMERIC_LIMIT = 5e9;
/** Most decimal places a number in a `numeric` or `anything-but` filter may have. */
export const NUMERIC_MAX_DECIMALS = 6;

/** A literal matched exactly: strings character by character, numbers by value. */
export type ExactValue = string | number | boolean | null;

type StringOrIgnoreCase = string | { readonly 'equals-ignore-case': string };
type OneOrMany<T> = T | readonly T[];

/** The operand of `anything-but`: a value, a list of all strings or all numbers, or a string filter. */
export type AnythingButOperand =
  | string
  | number
  | readonly string[]
  | readonly number[]
  | { readonly prefix: OneOrMany<string> }
  | { readonly suffix: OneOrMany<string> }
  | { readonly 'equals-ignore-case': OneOrMany<string> }
  | { readonly wildcard: OneOrMany<string> };

/** `["=", 3]`, `["<", 10]`, `[">", 0, "<=", 5]`: a two-sided range starts with its lower bound. */
export type NumericCondition =
  | readonly [NumericOperator, number]
  | readonly ['>' | '>=', number, '<' | '<=', number];

/** A match-value object such as `{ "prefix": "us-" }`; exactly one operator per object. */
export type ContentFilter =
  | { readonly prefix: StringOrIgnoreCase }
  | { readonly suffix: StringOrIgnoreCase }
  | { readonly 'equals-ignore-case': string }
  | { readonly wildcard: string }
  | { readonly 'anything-but': AnythingButOperand }
  | { readonly numeric: NumericCondition }
  | { readonly exists: boolean }
  | { readonly cidr: string };

/** One alternative in a field's list of match values. */
export type MatchValue = ExactValue | ContentFilter;

/**
 * An EventBridge event pattern over the whole envelope (`source`, `detail-type`, `detail`,
 * `account`, `region`, `time`, `resources`, ...). A field maps to a non-empty list of alternatives
 * or to a nested pattern; `$or` holds two or more sub-patterns of which one must match.
 */
export interface EventPattern {
  readonly $or?: readonly EventPattern[];
  readonly [field: string]: readonly MatchValue[] | EventPattern | readonly EventPattern[] | undefined;
}

/**
 * A pattern EventBridge would reject. `path` locates the problem in the pattern's JSON
 * (`detail.status[0]`, `(root)` for the pattern itself); the message starts with it.
 */
export class InvalidPatternError extends Error {
  override readonly name = 'InvalidPatternError';
  readonly path: string;
  readonly reason: string;

  constructor(path: string, reason: string) {
    super(`${path}: ${reason}`);
    this.path = path;
    this.reason = reason;
  }
}

/** Field names that cannot appear inside `$or` branches (event-ruler reserves them). */
const RESERVED_IN_OR: ReadonlySet<string> = new Set([
  ...FILTER_OPERATORS,
  ...NUMERIC_OPERATORS,
  'exactly',
  'html',
  'regex',
  'not-wildcard',
  'not-equals-ignore-case',
  'date-after',
  'date-on-or-after',
  'date-before',
  'date-on-or-before',
  'in-date-range',
  'ip-address-in-range',
  'ip-address-not-in-range',
]);

// ---------------------------------------------------------------------------------------------
// Validation

type PathSegment = string | number;

const PLAIN_KEY = /^[A-Za-z_$][\w$-]*$/;

function renderPath(path: readonly PathSegment[]): string {
  if (path.length === 0) return '(root)';
  let out = '';
  for (const segment of path) {
    if (typeof segment === 'number') out += `[${segment}]`;
    else if (PLAIN_KEY.test(segment)) out += out === '' ? segment : `.${segment}`;
    else out += `[${JSON.stringify(segment)}]`;
  }
  return out;
}

function fail(path: readonly PathSegment[], reason: string): never {
  throw new InvalidPatternError(renderPath(path), reason);
}

function isPlainObject(value: unknown): value is Record<string, unknown> {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return false;
  const proto: unknown = Object.getPrototypeOf(value);
  return proto === Object.prototype || proto === null;
}

function describe(value: unknown): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'an array';
  if (typeof value === 'object') return 'an object';
  if (typeof value === 'string') return `the string ${JSON.stringify(value)}`;
  if (typeof value === 'number' || typeof value === 'boolean') return `${typeof value} ${String(value)}`;
  return typeof value;
}

/**
 * Checks that `pattern` is a pattern EventBridge accepts and returns it typed. Throws
 * {@link InvalidPatternError} naming the JSON path of the first problem: non-array leaf values,
 * empty objects or arrays, unknown operators, malformed `numeric` ranges, numbers out of range,
 * bad wildcards or CIDR blocks, `$or` with fewer than two branches. The pattern is not copied.
 */
export function validatePattern(pattern: unknown): EventPattern {
  validateObject(pattern, [], false);
  return pattern as EventPattern;
}

function validateObject(value: unknown, path: readonly PathSegment[], insideOr: boolean): void {
  if (!isPlainObject(value)) fail(path, `must be an object, got ${describe(value)}`);
  const keys = Object.keys(value);
  if (keys.length === 0) fail(path, 'empty objects are not allowed');
  for (const key of keys) {
    const child = value[key];
    const childPath = [...path, key];
    if (key === '$or') {
      validateOr(child, childPath);
      continue;
    }
    if (insideOr && RESERVED_IN_OR.has(key)) {
      fail(childPath, `"${key}" is a reserved operator name and cannot be a field name inside $or`);
    }
    if (Array.isArray(child)) validateMatchList(child, childPath);
    else if (isPlainObject(child)) validateObject(child, childPath, insideOr);
    else {
      const hint = (FILTER_OPERATORS as readonly string[]).includes(key)
        ? ` (a filter goes inside the field's array: [ { "${key}": ... } ])`
        : '';
      fail(childPath, `must be an array of match values or a nested object, got ${describe(child)}${hint}`);
    }
  }
}

function validateOr(value: unknown, path: readonly PathSegment[]): void {
  if (!Array.isArray(value)) fail(path, `must be an array of at least two objects, got ${describe(value)}`);
  if (value.length < 2) fail(path, `must hold at least two objects, got ${value.length}`);
  value.forEach((branch, i) => {
    if (!isPlainObject(branch)) fail([...path, i], `$or entries must be objects, got ${describe(branch)}`);
    validateObject(branch, [...path, i], true);
  });
}

function validateMatchList(list: readonly unknown[], path: readonly PathSegment[]): void {
  if (list.length === 0) fail(path, 'empty arrays are not allowed');
  list.forEach((item, i) => {
    const itemPath = [...path, i];
    if (item === null || typeof item === 'string' || typeof item === 'boolean') return;
    if (typeof item === 'number') {
      if (!Number.isFinite(item)) fail(itemPath, `must be a finite number, got ${String(item)}`);
      return;
    }
    if (isPlainObject(item)) {
      validateFilter(item, itemPath);
      return;
    }
    fail(
      itemPath,
      `match values must be a string, number, boolean, null or a filter object, got ${describe(item)}`,
    );
  });
}

function validateFilter(filter: Record<string, unknown>, path: readonly PathSegment[]): void {
  const keys = Object.keys(filter);
  const [op] = keys;
  if (op === undefined) fail(path, 'empty filter objects are not allowed');
  if (keys.length > 1) {
    fail(
      path,
      `a filter object takes exactly one operator, got ${keys.map((k) => JSON.stringify(k)).join(', ')}`,
    );
  }
  const operand = filter[op];
  const opPath = [...path, op];
  switch (op) {
    case 'prefix':
    case 'suffix':
      validateStringOrIgnoreCase(operand, opPath);
      return;
    case 'equals-ignore-case':
      requireString(operand, opPath);
      return;
    case 'wildcard':
      requireString(operand, opPath);
      checkWildcard(operand, opPath);
      return;
    case 'exists':
      if (typeof operand !== 'boolean') fail(opPath, `must be true or false, got ${describe(operand)}`);
      return;
    case 'cidr':
      requireString(operand, opPath);
      if (parseCidr(operand) === undefined) {
        fail(
          opPath,
          `must be an IPv4 or IPv6 CIDR block such as "10.0.0.0/24", got ${JSON.stringify(operand)}`,
        );
      }
      return;
    case 'numeric':
      validateNumeric(operand, opPath);
      return;
    case 'anything-but':
      validateAnythingBut(operand, opPath);
      return;
    default:
      fail(path, `unknown operator ${JSON.stringify(op)} (expected one of ${FILTER_OPERATORS.join(', ')})`);
  }
}

function requireString(value: unknown, path: readonly PathSegment[]): asserts value is string {
  if (typeof value !== 'string') fail(path, `must be a string, got ${describe(value)}`);
}

function validateStringOrIgnoreCase(value: unknown, path: readonly PathSegment[]): void {
  if (typeof value === 'string') return;
  if (isPlainObject(value)) {
    const keys = Object.keys(value);
    if (keys.length === 1 && keys[0] === 'equals-ignore-case') {
      requireString(value['equals-ignore-case'], [...path, 'equals-ignore-case']);
      return;
    }
    fail(path, `only { "equals-ignore-case": string } may be nested here, got keys ${JSON.stringify(keys)}`);
  }
  fail(path, `must be a string or { "equals-ignore-case": string }, got ${describe(value)}`);
}

function validateNumeric(value: unknown, path: readonly PathSegment[]): void {
  if (!Array.isArray(value)) fail(path, `must be an array such as [">", 0, "<=", 5], got ${describe(value)}`);
  if (value.length !== 2 && value.length !== 4) {
    fail(
      path,
      `must hold one operator and value, or a lower and an upper bound; got ${value.length} elements`,
    );
  }
  const [op1, v1, op2, v2] = value as unknown[];
  const isOperator = (op: unknown): op is NumericOperator =>
    typeof op === 'string' && (NUMERIC_OPERATORS as readonly string[]).includes(op);
  if (!isOperator(op1)) fail([...path, 0], `unknown numeric operator ${JSON.stringify(op1)}`);
  checkFilterNumber(v1, [...path, 1]);
  if (value.length === 2) return;
  if (op1 !== '>' && op1 !== '>=') {
    fail([...path, 0], `a two-sided range must start with its lower bound (">" or ">="), got "${op1}"`);
  }
  if (op2 !== '<' && op2 !== '<=') {
    fail([...path, 2], `the upper bound must use "<" or "<=", got ${JSON.stringify(op2)}`);
  }
  checkFilterNumber(v2, [...path, 3]);
  if (v1 >= v2) fail(path, `lower bound ${v1} must be less than upper bound ${v2}`);
}

function decimalPlaces(n: number): number {
  const match = /^-?\d+(?:\.(\d+))?(?:e([+-]\d+))?$/.exec(String(n));
  if (!match) return 0;
  const fraction = match[1]?.length ?? 0;
  const exponent = Number(match[2] ?? 0);
  return Math.max(0, fraction - exponent);
}

function checkFilterNumber(value: unknown, path: readonly PathSegment[]): asserts value is number {
  if (typeof value !== 'number' || !Number.isFinite(value))
    fail(path, `must be a number, got ${describe(value)}`);
  if (Math.abs(value) > NUMERIC_LIMIT) {
    fail(path, `must be between -${NUMERIC_LIMIT} and ${NUMERIC_LIMIT} inclusive, got ${value}`);
  }
  if (decimalPlaces(value) > NUMERIC_MAX_DECIMALS) {
    fail(path, `may have at most ${NUMERIC_MAX_DECIMALS} decimal places, got ${value}`);
  }
}

function validateAnythingBut(value: unknown, path: readonly PathSegment[]): void {
  if (typeof value === 'string') return;
  if (typeof value === 'number') {
    checkFilterNumber(value, path);
    return;
  }
  if (Array.isArray(value)) {
    if (value.length === 0) fail(path, 'empty arrays are not allowed');
    const allStrings = value.every((v) => typeof v === 'string');
    const allNumbers = value.every((v) => typeof v === 'number');
    if (!allStrings && !allNumbers) {
      fail(path, 'a list must hold only strings or only numbers (no mix, no null, booleans or objects)');
    }
    if (allNumbers) {
      value.forEach((v, i) => {
        checkFilterNumber(v, [...path, i]);
      });
    }
    return;
  }
  if (isPlainObject(value)) {
    const keys = Object.keys(value);
    const [op] = keys;
    if (op === undefined || keys.length > 1) {
      fail(
        path,
        `must hold exactly one of ${ANYTHING_BUT_OPERATORS.join(', ')}, got ${JSON.stringify(keys)}`,
      );
    }
    if (!(ANYTHING_BUT_OPERATORS as readonly string[]).includes(op)) {
      fail(
        path,
        `unsupported anything-but operator ${JSON.stringify(op)} (expected one of ${ANYTHING_BUT_OPERATORS.join(', ')})`,
      );
    }
    const operand = value[op];
    const opPath = [...path, op];
    const strings: unknown[] = Array.isArray(operand) ? operand : [operand];
    if (Array.isArray(operand) && operand.length === 0) fail(opPath, 'empty arrays are not allowed');
    strings.forEach((s, i) => {
      const sPath = Array.isArray(operand) ? [...opPath, i] : opPath;
      requireString(s, sPath);
      if ((op === 'prefix' || op === 'suffix') && s === '') fail(sPath, `an empty ${op} is not allowed`);
      if (op === 'wildcard') checkWildcard(s, sPath);
    });
    return;
  }
  fail(
    path,
    `must be a string, a number, a list of strings or numbers, or a string filter; got ${describe(value)}`,
  );
}

// ---------------------------------------------------------------------------------------------
// Wildcards: `*` matches any run of characters (including none); `\*` is a literal asterisk and
// `\\` a literal backslash; any other backslash escape, and `**`, are rejected.

class WildcardSyntaxError extends Error {
  override readonly name = 'WildcardSyntaxError';
}

function parseWildcard(source: string): string[] {
  const segments: string[] = [];
  let current = '';
  for (let i = 0; i < source.length; i++) {
    const ch = source[i];
    if (ch === '*') {
      if (source[i + 1] === '*')
        throw new WildcardSyntaxError(`consecutive wildcard characters at position ${i}`);
      segments.push(current);
      current = '';
    } else if (ch === '\\') {
      const next = source[i + 1];
      if (next !== '*' && next !== '\\') {
        throw new WildcardSyntaxError(`invalid escape at position ${i}: only \\* and \\\\ are allowed`);
      }
      current += next;
      i++;
    } else {
      current += ch;
    }
  }
  segments.push(current);
  return segments;
}

function checkWildcard(source: string, path: readonly PathSegment[]): void {
  try {
    parseWildcard(source);
  } catch (error) {
    if (error instanceof WildcardSyntaxError)
      fail(path, `invalid wildcard ${JSON.stringify(source)}: ${error.message}`);
    throw error;
  }
}

/** Parsed wildcards and CIDR blocks are cached by source text; bounded so odd inputs cannot grow it. */
const CACHE_LIMIT = 1_000;
const wildcardCache = new Map<string, readonly string[] | null>();

function wildcardSegments(source: string): readonly string[] | null {
  let segments = wildcardCache.get(source);
  if (segments === undefined) {
    try {
      segments = parseWildcard(source);
    } catch {
      segments = null; // an unvalidated, malformed wildcard matches nothing
    }
    if (wildcardCache.size >= CACHE_LIMIT) wildcardCache.clear();
    wildcardCache.set(source, segments);
  }
  return segments;
}

function wildcardMatches(source: string, value: string): boolean {
  const segments = wildcardSegments(source);
  if (segments === null) return false;
  const first = segments[0] ?? '';
  if (segments.length === 1) return value === first;
  const last = segments[segments.length - 1] ?? '';
  if (value.length < first.length + last.length) return false;
  if (!value.startsWith(first) || !value.endsWith(last)) return false;
  // Leftmost placement of each middle literal is optimal for `*`-only globs.
  let position = first.length;
  const end = value.length - last.length;
  for (let i = 1; i < segments.length - 1; i++) {
    const segment = segments[i] ?? '';
    const found = value.indexOf(segment, position);
    if (found === -1 || found + segment.length > end) return false;
    position = found + segment.length;
  }
  return true;
}

// ---------------------------------------------------------------------------------------------
// CIDR

interface Cidr {
  readonly list: BlockList;
}

const cidrCache = new Map<string, Cidr | null>();

function parseCidr(source: string): Cidr | undefined {
  const cached = cidrCache.get(source);
  if (cached !== undefined) return cached ?? undefined;
  const slash = source.lastIndexOf('/');
  let result: Cidr | null = null;
  if (slash > 0) {
    const address = source.slice(0, slash);
    const bits = source.slice(slash + 1);
    const family = isIP(address);
    const max = family === 4 ? 32 : 128;
    if (family !== 0 && /^\d{1,3}$/.test(bits) && Number(bits) <= max) {
      const list = new BlockList();
      list.addSubnet(address, Number(bits), family === 4 ? 'ipv4' : 'ipv6');
      result = { list };
    }
  }
  if (cidrCache.size >= CACHE_LIMIT) cidrCache.clear();
  cidrCache.set(source, result);
  return result ?? undefined;
}

function cidrContains(source: string, value: string): boolean {
  const cidr = parseCidr(source);
  const family = isIP(value);
  if (cidr === undefined || family === 0) return false;
  return cidr.list.check(value, family === 4 ? 'ipv4' : 'ipv6');
}

// ---------------------------------------------------------------------------------------------
// Matching

const NO_FIELDS: Readonly<Record<string, unknown>> = Object.freeze({});

function isObjectLike(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** The leaf values at a field: arrays flattened, objects (intermediate nodes) dropped. */
function leafValues(value: unknown, out: unknown[] = []): unknown[] {
  if (value === undefined || isObjectLike(value)) return out;
  if (Array.isArray(value)) {
    for (const element of value) leafValues(element, out);
    return out;
  }
  out.push(value);
  return out;
}

/** The objects at a field, for descending into a nested pattern: arrays flattened. */
function nestedObjects(value: unknown, out: Record<string, unknown>[] = []): Record<string, unknown>[] {
  if (Array.isArray(value)) {
    for (const element of value) nestedObjects(element, out);
  } else if (isObjectLike(value)) {
    out.push(value);
  }
  return out;
}

/**
 * Whether `event` (the whole envelope, as parsed JSON) matches `pattern` under EventBridge
 * semantics. The pattern is trusted: pass what came out of {@link validatePattern}; an operator
 * it does not know matches nothing rather than throwing. Never throws for any `event`.
 */
export function matchesPattern(pattern: EventPattern, event: unknown): boolean {
  return matchObject(pattern, isObjectLike(event) ? event : NO_FIELDS);
}

function matchObject(pattern: EventPattern, node: Readonly<Record<string, unknown>>): boolean {
  for (const key of Object.keys(pattern)) {
    const sub = pattern[key];
    if (sub === undefined) continue;
    if (key === '$or' && Array.isArray(sub) && sub.every(isObjectLike)) {
      const branches = sub as readonly EventPattern[];
      if (!branches.some((branch) => matchObject(branch, node))) return false;
      continue;
    }
    const value = Object.hasOwn(node, key) ? node[key] : undefined;
    if (Array.isArray(sub)) {
      if (!matchField(sub, leafValues(value))) return false;
    } else {
      // A parent that is missing or not an object still lets `exists: false` below it match.
      const children = nestedObjects(value);
      const nested = sub as EventPattern;
      const matched =
        children.length === 0
          ? matchObject(nested, NO_FIELDS)
          : children.some((child) => matchObject(nested, child));
      if (!matched) return false;
    }
  }
  return true;
}

function matchField(alternatives: readonly unknown[], values: readonly unknown[]): boolean {
  for (const alternative of alternatives) {
    if (isObjectLike(alternative) && Object.hasOwn(alternative, 'exists')) {
      if (alternative.exists === values.length > 0) return true;
      continue;
    }
    for (const value of values) {
      if (matchValue(alternative, value)) return true;
    }
  }
  return false;
}

function matchValue(alternative: unknown, value: unknown): boolean {
  if (!isObjectLike(alternative)) return alternative === value;
  const [op] = Object.keys(alternative);
  const operand: unknown = op === undefined ? undefined : alternative[op];
  switch (op) {
    case 'prefix':
      return typeof value === 'string' && matchAffix(operand, value, 'prefix');
    case 'suffix':
      return typeof value === 'string' && matchAffix(operand, value, 'suffix');
    case 'equals-ignore-case':
      return (
        typeof value === 'string' && typeof operand === 'string' && foldCase(value) === foldCase(operand)
      );
    case 'wildcard':
      return typeof value === 'string' && typeof operand === 'string' && wildcardMatches(operand, value);
    case 'numeric':
      return typeof value === 'number' && Array.isArray(operand) && matchNumeric(operand, value);
    case 'cidr':
      return typeof value === 'string' && typeof operand === 'string' && cidrContains(operand, value);
    case 'anything-but':
      return !anythingButExcludes(operand, value);
    default:
      return false;
  }
}

function foldCase(s: string): string {
  return s.toLowerCase();
}

function matchAffix(operand: unknown, value: string, kind: 'prefix' | 'suffix'): boolean {
  let affix: unknown = operand;
  let subject = value;
  if (isObjectLike(operand)) {
    affix = operand['equals-ignore-case'];
    if (typeof affix !== 'string') return false;
    affix = foldCase(affix);
    subject = foldCase(value);
  }
  if (typeof affix !== 'string') return false;
  return kind === 'prefix' ? subject.startsWith(affix) : subject.endsWith(affix);
}

function matchNumeric(condition: readonly unknown[], value: number): boolean {
  if (!Number.isFinite(value) || Math.abs(value) > NUMERIC_LIMIT) return false;
  for (let i = 0; i + 1 < condition.length; i += 2) {
    const op = condition[i];
    const bound = condition[i + 1];
    if (typeof bound !== 'number') return false;
    const ok =
      op === '='
        ? value === bound
        : op === '<'
          ? value < bound
          : op === '<='
            ? value <= bound
            : op === '>'
              ? value > bound
              : op === '>='
                ? value >= bound
                : false;
    if (!ok) return false;
  }
  return condition.length > 0;
}

/** Whether `anything-but` rules `value` out. A value it cannot compare (a number against a prefix) is not ruled out. */
function anythingButExcludes(operand: unknown, value: unknown): boolean {
  if (Array.isArray(operand)) return operand.some((excluded) => excluded === value);
  if (!isObjectLike(operand)) return operand === value;
  const [op] = Object.keys(operand);
  const raw: unknown = op === undefined ? undefined : operand[op];
  const list: unknown[] = Array.isArray(raw) ? raw : [raw];
  if (typeof value !== 'string') return false;
  return list.some((s) => {
    if (typeof s !== 'string') return false;
    switch (op) {
      case 'prefix':
        return value.startsWith(s);
      case 'suffix':
        return value.endsWith(s);
      case 'equals-ignore-case':
        return foldCase(value) === foldCase(s);
      case 'wildcard':
        return wildcardMatches(s, value);
      default:
        return false;
    }
  });
}
