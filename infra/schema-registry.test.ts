import { readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { DETAIL_TYPES, EVENT_SOURCE } from '../contracts/events.js';
import { SCHEMAS_DIR } from '../contracts/write-schemas.js';
import {
  DRAFT4_KEYWORDS,
  DRAFT4_URI,
  eventEnvelopeSchema,
  MAX_SCHEMA_CONTENT,
  registrySchemas,
  SchemaConversionError,
  toDraft4,
} from './schema-registry.js';

/** Every keyword used anywhere in a schema (property names and data excluded). */
function keywords(node: unknown, out = new Set<string>()): Set<string> {
  if (Array.isArray(node)) {
    for (const n of node) keywords(n, out);
  } else if (node && typeof node === 'object') {
    for (const [k, v] of Object.entries(node)) {
      out.add(k);
      if (
        ['properties', 'patternProperties', 'definitions', 'dependencies'].includes(k) &&
        v &&
        typeof v === 'object'
      )
        for (const sub of Object.values(v)) keywords(sub, out);
      else if (!['enum', 'default', 'required'].includes(k)) keywords(v, out);
    }
  }
  return out;
}

describe('toDraft4', () => {
  it('rewrites the 2020-12 keywords that have a Draft 4 form', () => {
    expect(
      toDraft4({
        $schema: 'https://json-schema.org/draft/2020-12/schema',
        $id: 'urn:x',
        type: 'object',
        properties: {
          n: { type: 'integer', exclusiveMinimum: 0, maximum: 10 },
          m: { type: 'number', minimum: 5, exclusiveMinimum: 3 },
          c: { const: 'rsqlo' },
          r: { $ref: '#/$defs/T' },
          t: { type: 'array', prefixItems: [{ type: 'string' }], items: { type: 'number' } },
        },
        $defs: { T: { type: 'string' } },
      }),
    ).toEqual({
      $schema: DRAFT4_URI,
      id: 'urn:x',
      type: 'object',
      properties: {
        n: { type: 'integer', minimum: 0, exclusiveMinimum: true, maximum: 10 },
        m: { type: 'number', minimum: 5 },
        c: { enum: ['rsqlo'] },
        r: { $ref: '#/definitions/T' },
        t: { type: 'array', items: [{ type: 'string' }], additionalItems: { type: 'number' } },
      },
      definitions: { T: { type: 'string' } },
    });
  });

  it('drops the documentation-only keywords Draft 4 does not have', () => {
    expect(
      toDraft4({ type: 'object', examples: [{}], propertyNames: { pattern: '^a' }, $comment: 'x' }),
    ).toEqual({ type: 'object' });
  });

  it('fails on a newer keyword it cannot express, naming where', () => {
    expect(() => toDraft4({ properties: { a: { unevaluatedProperties: false } } })).toThrow(
      SchemaConversionError,
    );
    expect(() => toDraft4({ properties: { a: { if: {}, else: {} } } })).toThrow('#/properties/a/if');
  });
});

describe('registrySchemas', () => {
  const schemas = registrySchemas();

  it('has one envelope schema per detail-type and the workflow definition, named like discovered schemas', () => {
    expect(schemas.map((s) => s.name).sort()).toEqual(
      [...DETAIL_TYPES.map((d) => `${EVENT_SOURCE}@${d}`), `${EVENT_SOURCE}@WorkflowDefinition`].sort(),
    );
  });

  it('uses Draft 4 keywords only (plus the registry x- markers), within the content limit', () => {
    for (const s of schemas) {
      expect(s.content.length).toBeLessThanOrEqual(MAX_SCHEMA_CONTENT);
      const doc = JSON.parse(s.content) as Record<string, unknown>;
      expect(doc.$schema).toBe(DRAFT4_URI);
      const unknown = [...keywords(doc)].filter((k) => !DRAFT4_KEYWORDS.has(k) && !k.startsWith('x-'));
      expect(unknown, s.name).toEqual([]);
      expect(s.description.length).toBeLessThanOrEqual(256);
    }
  });

  it('wraps each detail in the EventBridge envelope, keeping its properties and required fields', () => {
    for (const dt of DETAIL_TYPES) {
      const original = JSON.parse(readFileSync(path.join(SCHEMAS_DIR, 'events', `${dt}.json`), 'utf8'));
      const env = eventEnvelopeSchema(dt, original);
      expect(env['x-amazon-events-detail-type']).toBe(dt);
      expect(env['x-amazon-events-source']).toBe(EVENT_SOURCE);
      expect(env.properties['detail-type']).toEqual({ type: 'string', enum: [dt] });
      expect(env.properties.detail).toEqual({ $ref: `#/definitions/${dt}` });
      const detail = env.definitions[dt] as { properties: Record<string, unknown>; required?: string[] };
      expect(Object.keys(detail.properties)).toEqual(Object.keys(original.properties));
      expect(detail.required).toEqual(original.required);
    }
  });
});
