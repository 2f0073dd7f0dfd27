/**
 * Checks a synthesized CloudFormation template against AWS's own resource definitions: the
 * CloudFormation resource schemas as `@aws-cdk/aws-service-spec` packages them (the database the
 * CDK's L1 constructs are generated from, built from the CloudFormation registry schemas). For every
 * resource: its type exists; every property it sets is one the type has (nested property types
 * too); every property the type requires is set; every value has the property's type (string,
 * number, integer, boolean, array, map, object of a property type, JSON, union) and, where the
 * schema lists them, one of its allowed values.
 *
 * Values computed by CloudFormation (`Ref`, `Fn::GetAtt`, `Fn::Join`, `Fn::Sub`, `Fn::If`, …) are
 * accepted wherever a value may stand: their result is only known at deploy time. `Custom::` and
 * `AWS::CloudFormation::CustomResource` resources need a `ServiceToken`; their other properties are
 * the handler's to judge.
 *
 * This complements the CloudFormation validator the synth already runs (aws-cdk-lib's
 * CloudFormationValidatePlugin): two independent readings of AWS's schemas, and this one is
 * explained finding by finding in plain text.
 */
import type { SpecDatabase } from '@aws-cdk/service-spec-types';

/** The CDK's version-reporting resource: deployable, without a CloudFormation registry schema. */
const CDK_METADATA = 'AWS::CDK::Metadata';

/** One thing wrong with one resource: where (`Resources.<id>.Properties.<path>`) and what. */
export interface SchemaFinding {
  resource: string;
  path: string;
  message: string;
}

interface PropertyType {
  type: string;
  element?: PropertyType;
  types?: PropertyType[];
  reference?: { $ref: string };
  allowedValues?: string[];
}
interface Property {
  type: PropertyType;
  previousTypes?: PropertyType[];
  required?: boolean;
}
interface Shape {
  properties: Record<string, Property>;
}

const INTRINSICS = new Set([
  'Ref',
  'Fn::GetAtt',
  'Fn::Join',
  'Fn::Sub',
  'Fn::If',
  'Fn::Select',
  'Fn::Split',
  'Fn::FindInMap',
  'Fn::GetAZs',
  'Fn::ImportValue',
  'Fn::Base64',
  'Fn::Cidr',
  'Fn::Length',
  'Fn::ToJsonString',
]);

/** `{ "Ref": … }` / `{ "Fn::…": … }`: a value CloudFormation computes at deploy time. */
export function isIntrinsic(value: unknown): boolean {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return false;
  const keys = Object.keys(value);
  return keys.length === 1 && INTRINSICS.has(keys[0] as string);
}

const describe = (v: unknown) => (Array.isArray(v) ? 'an array' : v === null ? 'null' : `a ${typeof v}`);

export class ResourceSchemaChecker {
  constructor(private readonly db: SpecDatabase) {}

  /** Findings for every resource of a template (empty when it conforms). */
  checkTemplate(template: { Resources?: Record<string, { Type?: string; Properties?: unknown }> }) {
    const out: SchemaFinding[] = [];
    for (const [id, r] of Object.entries(template.Resources ?? {}))
      out.push(...this.checkResource(id, r.Type ?? '', r.Properties ?? {}));
    return out;
  }

  checkResource(id: string, type: string, properties: unknown): SchemaFinding[] {
    const out: SchemaFinding[] = [];
    const report = (path: string, message: string) => out.push({ resource: id, path, message });
    if (type.startsWith('Custom::') || type === 'AWS::CloudFormation::CustomResource') {
      if (typeof properties !== 'object' || properties === null || !('ServiceToken' in properties))
        report('ServiceToken', 'a custom resource needs a ServiceToken');
      return out;
    }
    if (type === CDK_METADATA) {
      // The CDK's version reporting (`cdk synth` adds it unless --no-version-reporting):
      // CloudFormation deploys it in every CDK stack, but it has no registry schema. Its one
      // property is `Analytics`, a string.
      const props = (properties ?? {}) as Record<string, unknown>;
      for (const [k, v] of Object.entries(props))
        if (k !== 'Analytics') report(`Properties.${k}`, `${k} is not a property of ${type}`);
        else if (typeof v !== 'string') report(`Properties.${k}`, 'Analytics must be a string');
      return out;
    }
    const found = this.db.lookup('resource', 'cloudFormationType', 'equals', type);
    if (found.length !== 1) {
      report('', `${type} is not a CloudFormation resource type`);
      return out;
    }
    this.checkObject(found[0] as unknown as Shape, properties, 'Properties', report);
    return out;
  }

  private checkObject(
    shape: Shape,
    value: unknown,
    path: string,
    report: (path: string, message: string) => void,
  ) {
    if (isIntrinsic(value)) return;
    if (typeof value !== 'object' || value === null || Array.isArray(value)) {
      report(path, `must be an object, got ${describe(value)}`);
      return;
    }
    const given = value as Record<string, unknown>;
    for (const [name, v] of Object.entries(given)) {
      const prop = shape.properties[name];
      if (!prop) {
        report(
          `${path}.${name}`,
          `unknown property ${name} (known: ${Object.keys(shape.properties).sort().join(', ')})`,
        );
        continue;
      }
      const candidates = [prop.type, ...(prop.previousTypes ?? [])];
      const problems = candidates.map((t) => this.typeProblems(t, v, `${path}.${name}`));
      if (!problems.some((p) => p.length === 0)) for (const [p, m] of problems[0] ?? []) report(p, m);
    }
    for (const [name, prop] of Object.entries(shape.properties))
      if (prop.required && !(name in given))
        report(`${path}.${name}`, `required property ${name} is missing`);
  }

  /** What is wrong with `value` as a `type` (empty when it fits). */
  private typeProblems(type: PropertyType, value: unknown, path: string): Array<[string, string]> {
    const out: Array<[string, string]> = [];
    const report = (p: string, m: string) => out.push([p, m]);
    if (isIntrinsic(value)) return out;
    switch (type.type) {
      case 'string':
      case 'date-time': {
        if (typeof value !== 'string' && typeof value !== 'number' && typeof value !== 'boolean')
          report(path, `must be a string, got ${describe(value)}`);
        else if (type.allowedValues && typeof value === 'string' && !type.allowedValues.includes(value))
          report(path, `${JSON.stringify(value)} is not one of ${type.allowedValues.join(', ')}`);
        break;
      }
      case 'number':
      case 'integer': {
        const n = typeof value === 'string' && value.trim() !== '' ? Number(value) : value;
        if (typeof n !== 'number' || Number.isNaN(n))
          report(path, `must be a ${type.type}, got ${describe(value)}`);
        else if (type.type === 'integer' && !Number.isInteger(n))
          report(path, `must be an integer, got ${n}`);
        break;
      }
      case 'boolean':
        if (typeof value !== 'boolean' && value !== 'true' && value !== 'false')
          report(path, `must be a boolean, got ${describe(value)}`);
        break;
      case 'json':
        if (value === undefined) report(path, 'must be JSON');
        break;
      case 'array':
        if (!Array.isArray(value)) report(path, `must be an array, got ${describe(value)}`);
        else
          for (const [i, v] of value.entries())
            out.push(...this.typeProblems(type.element as PropertyType, v, `${path}[${i}]`));
        break;
      case 'map':
        if (typeof value !== 'object' || value === null || Array.isArray(value))
          report(path, `must be an object (a map), got ${describe(value)}`);
        else
          for (const [k, v] of Object.entries(value))
            out.push(...this.typeProblems(type.element as PropertyType, v, `${path}.${k}`));
        break;
      case 'tag':
        this.checkObject(
          {
            properties: {
              Key: { type: { type: 'string' }, required: true },
              Value: { type: { type: 'string' }, required: true },
            },
          },
          value,
          path,
          report,
        );
        break;
      case 'ref': {
        const def = this.db.get('typeDefinition', type.reference?.$ref as string) as unknown as Shape;
        this.checkObject(def, value, path, report);
        break;
      }
      case 'union': {
        const each = (type.types ?? []).map((t) => this.typeProblems(t, value, path));
        if (!each.some((p) => p.length === 0))
          report(
            path,
            `fits none of its types (${each
              .flat()
              .map(([, m]) => m)
              .join('; ')})`,
          );
        break;
      }
      default:
        report(path, `property type ${type.type} is not understood by this checker`);
    }
    return out;
  }
}
