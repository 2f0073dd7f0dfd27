import { readFileSync } from 'node:fs';
import path from 'node:path';
import { DETAIL_TYPES, EVENT_SOURCE } from '../contracts/events.js';
import { SCHEMAS_DIR } from '../contracts/write-schemas.js';

/**
 * The EventBridge schema registry accepts `OpenApi3` and `JSONSchemaDraft4` documents only; the
 * committed schemas (contracts/schemas/) are JSON Schema 2020-12. We register them as Draft 4:
 *
 * - keywords with a Draft 4 equivalent are rewritten: `$id` → `id`, `const` → `enum: [v]`,
 *   numeric `exclusiveMinimum`/`exclusiveMaximum` → `minimum`/`maximum` + boolean flag,
 *   `$defs` → `definitions` (and `#/$defs/…` references), `prefixItems` → array-form `items`;
 * - keywords Draft 4 does not know and that only narrow or document (`examples`,
 *   `propertyNames`, `$comment`, `readOnly`, `writeOnly`, `deprecated`) are dropped: the
 *   registry's schemas describe and generate code bindings, the zod contracts stay the
 *   authority (the JSON Schemas may accept more than zod, never less — contracts/write-schemas.ts);
 * - any other newer keyword makes the conversion fail, so a change in the generator cannot slip
 *   an unknown keyword into the registry unnoticed.
 *
 * Each event schema is wrapped in the EventBridge envelope the registry's discovered schemas use
 * (`AWSEvent` with `detail` referring to the detail's definition, and the
 * `x-amazon-events-source` / `x-amazon-events-detail-type` markers), so code bindings downloaded
 * from the registry parse whole events.
 */

export const DRAFT4_URI = 'http://json-schema.org/draft-04/schema#';

/** Draft 4 keywords (validation + metadata + hyper-schema-free core). */
export const DRAFT4_KEYWORDS = new Set([
  '$schema',
  'id',
  '$ref',
  'title',
  'description',
  'default',
  'type',
  'enum',
  'format',
  'pattern',
  'minLength',
  'maxLength',
  'minimum',
  'maximum',
  'exclusiveMinimum',
  'exclusiveMaximum',
  'multipleOf',
  'items',
  'additionalItems',
  'minItems',
  'maxItems',
  'uniqueItems',
  'properties',
  'patternProperties',
  'additionalProperties',
  'required',
  'minProperties',
  'maxProperties',
  'dependencies',
  'anyOf',
  'oneOf',
  'allOf',
  'not',
  'definitions',
]);

const DROPPED = new Set(['examples', 'propertyNames', '$comment', 'readOnly', 'writeOnly', 'deprecated']);
/** Keywords whose value maps names to schemas. */
const SCHEMA_MAPS = new Set(['properties', 'patternProperties', 'definitions', '$defs', 'dependencies']);
/** Keywords whose value is data, not a schema. */
const DATA = new Set(['enum', 'const', 'default', 'examples', 'required']);

export class SchemaConversionError extends Error {
  override name = 'SchemaConversionError';
}

/** Converts one JSON Schema 2020-12 document (or sub-schema) to Draft 4; see the module comment. */
export function toDraft4(schema: unknown, at = '#'): unknown {
  if (typeof schema === 'boolean') return schema ? {} : { not: {} };
  if (schema === null || typeof schema !== 'object' || Array.isArray(schema))
    throw new SchemaConversionError(`${at}: a schema must be an object or a boolean`);
  const src = schema as Record<string, unknown>;
  const out: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(src)) {
    const here = `${at}/${key}`;
    if (DROPPED.has(key)) continue;
    if (DATA.has(key)) {
      if (key === 'const') out.enum = [value];
      else out[key] = value;
      continue;
    }
    switch (key) {
      case '$schema':
        out.$schema = DRAFT4_URI;
        break;
      case '$id':
        out.id = value;
        break;
      case '$ref':
        out.$ref = typeof value === 'string' ? value.replace(/^#\/\$defs\//, '#/definitions/') : value;
        break;
      case 'exclusiveMinimum':
      case 'exclusiveMaximum': {
        if (typeof value !== 'number') {
          out[key] = value;
          break;
        }
        const bound = key === 'exclusiveMinimum' ? 'minimum' : 'maximum';
        const current = src[bound];
        // Both present: keep the tighter one.
        const exclusiveWins =
          typeof current !== 'number' || (bound === 'minimum' ? value >= current : value <= current);
        if (exclusiveWins) {
          out[bound] = value;
          out[key] = true;
        }
        break;
      }
      case 'minimum':
      case 'maximum': {
        const ex = src[key === 'minimum' ? 'exclusiveMinimum' : 'exclusiveMaximum'];
        const exclusiveWins =
          typeof ex === 'number' && (key === 'minimum' ? ex >= (value as number) : ex <= (value as number));
        if (!exclusiveWins) out[key] = value;
        break;
      }
      case 'prefixItems':
        if (!Array.isArray(value)) throw new SchemaConversionError(`${here}: must be an array`);
        out.items = value.map((s, i) => toDraft4(s, `${here}/${i}`));
        if ('items' in src) out.additionalItems = toDraft4(src.items, `${at}/items`);
        break;
      case 'items':
        if ('prefixItems' in src) break;
        out.items = Array.isArray(value)
          ? value.map((s, i) => toDraft4(s, `${here}/${i}`))
          : toDraft4(value, here);
        break;
      default:
        if (SCHEMA_MAPS.has(key)) {
          if (value === null || typeof value !== 'object' || Array.isArray(value))
            throw new SchemaConversionError(`${here}: must be an object`);
          const target = key === '$defs' ? 'definitions' : key;
          out[target] = Object.fromEntries(
            Object.entries(value as Record<string, unknown>).map(([name, sub]) => [
              name,
              // Draft 4 `dependencies` may also hold a list of property names.
              Array.isArray(sub) ? sub : toDraft4(sub, `${here}/${name}`),
            ]),
          );
        } else if (key === 'additionalProperties' || key === 'not') {
          out[key] = toDraft4(value, here);
        } else if (key === 'anyOf' || key === 'oneOf' || key === 'allOf') {
          if (!Array.isArray(value)) throw new SchemaConversionError(`${here}: must be an array`);
          out[key] = value.map((s, i) => toDraft4(s, `${here}/${i}`));
        } else if (DRAFT4_KEYWORDS.has(key) || key.startsWith('x-')) {
          out[key] = value;
        } else {
          throw new SchemaConversionError(`${here}: "${key}" has no JSON Schema Draft 4 equivalent`);
        }
    }
  }
  return out;
}

/** The envelope of an rsqlo event for a detail-type, around its converted detail schema. */
export function eventEnvelopeSchema(detailType: string, detailSchema: Record<string, unknown>) {
  const detail = toDraft4(detailSchema) as Record<string, unknown>;
  const { $schema: _s, id: _id, definitions, ...detailBody } = detail;
  return {
    $schema: DRAFT4_URI,
    id: `urn:rsqlo:schema:events:${detailType}:envelope`,
    title: 'AWSEvent',
    description: `An EventBridge event with source "${EVENT_SOURCE}" and detail-type "${detailType}".`,
    type: 'object',
    'x-amazon-events-source': EVENT_SOURCE,
    'x-amazon-events-detail-type': detailType,
    required: ['detail-type', 'source', 'detail'],
    properties: {
      version: { type: 'string' },
      id: { type: 'string' },
      'detail-type': { type: 'string', enum: [detailType] },
      source: { type: 'string', enum: [EVENT_SOURCE] },
      account: { type: 'string' },
      time: { type: 'string', format: 'date-time' },
      region: { type: 'string' },
      resources: { type: 'array', items: { type: 'string' } },
      detail: { $ref: `#/definitions/${detailType}` },
    },
    definitions: {
      ...((definitions as Record<string, unknown> | undefined) ?? {}),
      [detailType]: detailBody,
    },
  };
}

/** One schema for the registry. */
export interface RegistrySchema {
  /** Schema name: `rsqlo@<DetailType>` (the registry's naming of discovered schemas) or `rsqlo@WorkflowDefinition`. */
  name: string;
  description: string;
  /** The Draft 4 document, serialized. */
  content: string;
}

/** Largest schema content the registry accepts (characters). */
export const MAX_SCHEMA_CONTENT = 100_000;

/** Every schema the registry gets: one per detail-type and the workflow definition. */
export function registrySchemas(dir: string = SCHEMAS_DIR): RegistrySchema[] {
  const read = (rel: string) =>
    JSON.parse(readFileSync(path.join(dir, rel), 'utf8')) as Record<string, unknown>;
  const out: RegistrySchema[] = DETAIL_TYPES.map((dt) => {
    const doc = read(`events/${dt}.json`);
    return {
      name: `${EVENT_SOURCE}@${dt}`,
      description: String(doc.description ?? dt).slice(0, 256),
      content: JSON.stringify(eventEnvelopeSchema(dt, doc)),
    };
  });
  const wf = read('workflow-definition.json');
  out.push({
    name: `${EVENT_SOURCE}@WorkflowDefinition`,
    description: String(wf.description ?? 'rsqlo workflow definition').slice(0, 256),
    content: JSON.stringify(toDraft4(wf)),
  });
  for (const s of out)
    if (s.content.length > MAX_SCHEMA_CONTENT)
      throw new SchemaConversionError(
        `${s.name}: ${s.content.length} characters, over the registry's ${MAX_SCHEMA_CONTENT}`,
      );
  return out;
}
