import { describe, expect, it } from 'vitest';
import type { EventPattern } from './pattern.js';
import { InvalidPatternError, matchesPattern, validatePattern } from './pattern.js';

/** Every pattern a matching test uses, so the last group can check they all validate. */
const usedPatterns: EventPattern[] = [];

/** Validates then matches, so a pattern EventBridge would reject cannot pass a matching test. */
function matches(pattern: EventPattern, event: unknown): boolean {
  usedPatterns.push(pattern);
  return matchesPattern(validatePattern(pattern), event);
}

function invalid(pattern: unknown): InvalidPatternError {
  try {
    validatePattern(pattern);
  } catch (error) {
    if (error instanceof InvalidPatternError) return error;
    throw error;
  }
  throw new Error(`pattern was accepted: ${JSON.stringify(pattern)}`);
}

// The sample event of aws/event-ruler's README ("Ruler by Example"), used by the docs' operator examples.
const rulerEvent = {
  version: '0',
  id: 'ddddd4-aaaa-7777-4444-345dd43cc333',
  'detail-type': 'EC2 Instance State-change Notification',
  source: 'aws.ec2',
  account: '012345679012',
  time: '2017-10-02T16:24:49Z',
  region: 'us-east-1',
  resources: ['arn:aws:ec2:us-east-1:123456789012:instance/i-000000aaaaaa00000'],
  detail: {
    'c-count': 5,
    'd-count': 3,
    'x-limit': 301.8,
    'source-ip': '10.0.0.33',
    'instance-id': 'i-000000aaaaaa00000',
    state: 'running',
  },
};

function withDetail(detail: Record<string, unknown>): Record<string, unknown> {
  return { ...rulerEvent, detail: { ...rulerEvent.detail, ...detail } };
}

// Docs: "Amazon EventBridge event patterns" / "Event pattern syntax".
describe('Amazon EventBridge event patterns', () => {
  const ec2Event = {
    version: '0',
    id: '6a7e8feb-b491-4cf7-a9f1-bf3703467718',
    'detail-type': 'EC2 Instance State-change Notification',
    source: 'aws.ec2',
    account: '111122223333',
    time: '2017-12-22T18:43:48Z',
    region: 'us-west-1',
    resources: ['arn:aws:ec2:us-west-1:123456789012:instance/i-1234567890abcdef0'],
    detail: { 'instance-id': 'i-1234567890abcdef0', state: 'terminated' },
  };
  const terminations: EventPattern = {
    source: ['aws.ec2'],
    'detail-type': ['EC2 Instance State-change Notification'],
    detail: { state: ['terminated'] },
  };

  it('matches the EC2 instance-termination example and ignores fields the pattern does not name', () => {
    expect(matches(terminations, ec2Event)).toBe(true);
  });

  it('requires every field named in the pattern (fields are ANDed)', () => {
    expect(matches(terminations, { ...ec2Event, detail: { state: 'running' } })).toBe(false);
    expect(matches(terminations, { ...ec2Event, source: 'aws.fargate' })).toBe(false);
    const { 'detail-type': _dropped, ...withoutDetailType } = ec2Event;
    expect(matches(terminations, withoutDetailType)).toBe(false);
  });

  it('matches any of several values for one field (values are ORed)', () => {
    const pattern: EventPattern = { source: ['aws.ec2', 'aws.fargate'] };
    expect(matches(pattern, ec2Event)).toBe(true);
    expect(matches(pattern, { ...ec2Event, source: 'aws.fargate' })).toBe(true);
    expect(matches(pattern, { ...ec2Event, source: 'aws.s3' })).toBe(false);
  });

  it('requires the same nesting: a top-level field does not match a nested one', () => {
    expect(matches({ state: ['terminated'] }, ec2Event)).toBe(false);
  });

  it('matches numbers in nested objects (Macie "Value matching" example)', () => {
    const macie = {
      source: 'aws.macie',
      'detail-type': 'Macie Alert',
      detail: { 'risk-score': 80, trigger: { 'alert-type': 'basic', risk: 8 } },
    };
    const pattern: EventPattern = {
      source: ['aws.macie'],
      'detail-type': ['Macie Alert'],
      detail: { 'risk-score': [80], trigger: { risk: [8] } },
    };
    expect(matches(pattern, macie)).toBe(true);
    expect(matches(pattern, { ...macie, detail: { ...macie.detail, trigger: { risk: 7 } } })).toBe(false);
  });

  it('matches the other envelope fields: account, region, time, resources, id', () => {
    const pattern: EventPattern = {
      account: ['111122223333'],
      region: ['us-west-1'],
      time: [{ prefix: '2017-12-22' }],
      id: [{ exists: true }],
      resources: [{ suffix: 'i-1234567890abcdef0' }],
    };
    expect(matches(pattern, ec2Event)).toBe(true);
    expect(matches(pattern, { ...ec2Event, account: '444455556666' })).toBe(false);
  });
});

// Docs: "Matching null values and empty strings in Amazon EventBridge event patterns".
describe('Matching null values and empty strings', () => {
  const event = {
    version: '0',
    'detail-type': 'EC2 Instance Launch Successful',
    source: 'aws.autoscaling',
    resources: [],
    detail: { eventVersion: '', responseElements: null },
  };

  it('matches an empty string with [""]', () => {
    expect(matches({ detail: { eventVersion: [''] } }, event)).toBe(true);
  });

  it('matches a null value with [null]', () => {
    expect(matches({ detail: { responseElements: [null] } }, event)).toBe(true);
  });

  it('does not treat null and empty strings as interchangeable', () => {
    expect(matches({ detail: { responseElements: [''] } }, event)).toBe(false);
    expect(matches({ detail: { eventVersion: [null] } }, event)).toBe(false);
  });

  it('does not match [null] against a missing field', () => {
    expect(matches({ detail: { absent: [null] } }, event)).toBe(false);
  });
});

// Docs: "Arrays in Amazon EventBridge event patterns"; aws/event-ruler README "JSON Array Matching".
describe('Arrays in Amazon EventBridge event patterns', () => {
  const pattern: EventPattern = {
    resources: [
      'arn:aws:ec2:us-east-1:123456789012:instance/i-b188560f',
      'arn:aws:ec2:us-east-1:111122223333:instance/i-b188560f',
      'arn:aws:ec2:us-east-1:444455556666:instance/i-b188560f',
    ],
  };

  it('matches when the pattern array and the event array intersect (the docs example)', () => {
    const event = {
      resources: [
        'arn:aws:autoscaling:us-east-1:123456789012:autoScalingGroup:eb56d16b-bbf0-401d-b893-d5978ed4a025:autoScalingGroupName/ASGTerminate',
        'arn:aws:ec2:us-east-1:123456789012:instance/i-b188560f',
      ],
    };
    expect(matches(pattern, event)).toBe(true);
  });

  it('does not match when the intersection is empty, or the event array is empty', () => {
    expect(matches(pattern, { resources: ['arn:aws:ec2:us-east-1:999999999999:instance/i-x'] })).toBe(false);
    expect(matches(pattern, { resources: [] })).toBe(false);
  });

  it('applies filters to each element: any element may satisfy them', () => {
    expect(matches({ tags: [{ prefix: 'env:' }] }, { tags: ['team:data', 'env:prod'] })).toBe(true);
    expect(matches({ tags: [{ numeric: ['>', 10] }] }, { tags: [1, 'x', 11] })).toBe(true);
    expect(matches({ tags: [{ numeric: ['>', 10] }] }, { tags: [1, 'x', 10] })).toBe(false);
  });

  it('flattens nested arrays', () => {
    expect(matches({ ids: [3] }, { ids: [[1, 2], [[3]]] })).toBe(true);
  });

  const employees = {
    employees: [
      { firstName: 'John', lastName: 'Doe' },
      { firstName: 'Anna', lastName: 'Smith' },
      { firstName: 'Peter', lastName: 'Jones' },
    ],
  };

  it('descends into arrays of objects as if each object were the field value', () => {
    expect(matches({ employees: { firstName: ['Anna'] } }, employees)).toBe(true);
    expect(matches({ employees: { firstName: ['Mary'] } }, employees)).toBe(false);
  });

  it('never combines fields from different elements of one array', () => {
    expect(matches({ employees: { firstName: ['Anna'], lastName: ['Jones'] } }, employees)).toBe(false);
    expect(matches({ employees: { firstName: ['Anna'], lastName: ['Smith'] } }, employees)).toBe(true);
  });

  it('descends into multi-level arrays of objects', () => {
    const nested = { employees: [[{ firstName: 'John' }, { firstName: 'Anna' }], [{ firstName: 'Peter' }]] };
    expect(matches({ employees: { firstName: ['Peter'] } }, nested)).toBe(true);
  });
});

// Docs: "Comparison operators for use in event patterns in Amazon EventBridge" (formerly "Content
// filtering in Amazon EventBridge event patterns").
describe('Comparison operators: prefix and suffix', () => {
  it('prefix matching: time starts with 2017-10-02', () => {
    const pattern: EventPattern = { time: [{ prefix: '2017-10-02' }] };
    expect(matches(pattern, { time: '2017-10-02T18:43:48Z' })).toBe(true);
    expect(matches(pattern, { time: '2017-10-03T18:43:48Z' })).toBe(false);
  });

  it('prefix matching example: Auto Scaling events from European regions', () => {
    const pattern: EventPattern = { source: ['aws.autoscaling'], region: [{ prefix: 'eu-' }] };
    expect(matches(pattern, { source: 'aws.autoscaling', region: 'eu-west-1' })).toBe(true);
    expect(matches(pattern, { source: 'aws.autoscaling', region: 'us-east-1' })).toBe(false);
  });

  it('prefix is case-sensitive and only matches strings', () => {
    expect(matches({ code: [{ prefix: 'ab' }] }, { code: 'ABC' })).toBe(false);
    expect(matches({ code: [{ prefix: '12' }] }, { code: 123 })).toBe(false);
  });

  it('prefix matching while ignoring case: service starts with EventB', () => {
    const pattern: EventPattern = { detail: { service: [{ prefix: { 'equals-ignore-case': 'EventB' } }] } };
    for (const service of ['EventBridge', 'eventbridge', 'EVENTBRIDGE']) {
      expect(matches(pattern, { detail: { service } })).toBe(true);
    }
    expect(matches(pattern, { detail: { service: 'Event' } })).toBe(false);
  });

  it('suffix matching: FileName ends with .png', () => {
    const pattern: EventPattern = { FileName: [{ suffix: '.png' }] };
    expect(matches(pattern, { FileName: 'photo.png' })).toBe(true);
    expect(matches(pattern, { FileName: 'photo.PNG' })).toBe(false);
    expect(matches(pattern, { FileName: 'photo.png.txt' })).toBe(false);
  });

  it('suffix matching while ignoring case: .png, .PNG, .Png', () => {
    const pattern: EventPattern = { detail: { FileName: [{ suffix: { 'equals-ignore-case': '.png' } }] } };
    expect(matches(pattern, { detail: { FileName: 'a.PNG' } })).toBe(true);
    expect(matches(pattern, { detail: { FileName: 'a.Png' } })).toBe(true);
    expect(matches(pattern, { detail: { FileName: 'a.jpg' } })).toBe(false);
  });

  it('equals-ignore-case: Name is "Alice" in any casing, strings only', () => {
    const pattern: EventPattern = { Name: [{ 'equals-ignore-case': 'alice' }] };
    expect(matches(pattern, { Name: 'ALICE' })).toBe(true);
    expect(matches(pattern, { Name: 'Alicia' })).toBe(false);
    expect(matches({ flag: [{ 'equals-ignore-case': 'true' }] }, { flag: true })).toBe(false);
  });
});

describe('Comparison operators: anything-but', () => {
  it('a single string: state is anything but "initializing"', () => {
    const pattern: EventPattern = { detail: { state: [{ 'anything-but': 'initializing' }] } };
    expect(matches(pattern, rulerEvent)).toBe(true);
    expect(matches(pattern, withDetail({ state: 'initializing' }))).toBe(false);
  });

  it('a single number: x-limit is anything but 123', () => {
    const pattern: EventPattern = { detail: { 'x-limit': [{ 'anything-but': 123 }] } };
    expect(matches(pattern, rulerEvent)).toBe(true);
    expect(matches(pattern, withDetail({ 'x-limit': 123 }))).toBe(false);
  });

  it('a list of strings: neither "stopped" nor "overloaded"', () => {
    const pattern: EventPattern = { detail: { state: [{ 'anything-but': ['stopped', 'overloaded'] }] } };
    expect(matches(pattern, rulerEvent)).toBe(true);
    expect(matches(pattern, withDetail({ state: 'overloaded' }))).toBe(false);
  });

  it('a list of numbers: none of 100, 200, 300', () => {
    const pattern: EventPattern = { detail: { 'x-limit': [{ 'anything-but': [100, 200, 300] }] } };
    expect(matches(pattern, rulerEvent)).toBe(true);
    expect(matches(pattern, withDetail({ 'x-limit': 200 }))).toBe(false);
  });

  it('the docs examples: not CloudTrail API calls; not EC2 or S3', () => {
    const notCloudTrail: EventPattern = {
      'detail-type': [{ 'anything-but': 'AWS API Call via CloudTrail' }],
    };
    expect(matches(notCloudTrail, rulerEvent)).toBe(true);
    expect(matches(notCloudTrail, { 'detail-type': 'AWS API Call via CloudTrail' })).toBe(false);
    const notEc2OrS3: EventPattern = { source: [{ 'anything-but': ['aws.ec2', 'aws.s3'] }] };
    expect(matches(notEc2OrS3, rulerEvent)).toBe(false);
    expect(matches(notEc2OrS3, { source: 'rsqlo' })).toBe(true);
  });

  it('on a prefix: state does not start with "init"; source is not an AWS service', () => {
    const pattern: EventPattern = { detail: { state: [{ 'anything-but': { prefix: 'init' } }] } };
    expect(matches(pattern, rulerEvent)).toBe(true);
    expect(matches(pattern, withDetail({ state: 'initializing' }))).toBe(false);
    const ownEvents: EventPattern = { source: [{ 'anything-but': { prefix: 'aws.' } }] };
    expect(matches(ownEvents, { source: 'rsqlo' })).toBe(true);
    expect(matches(ownEvents, { source: 'aws.ec2' })).toBe(false);
  });

  it('on a suffix: FileName does not end with .png', () => {
    const pattern: EventPattern = { FileName: [{ 'anything-but': { suffix: '.png' } }] };
    expect(matches(pattern, { FileName: 'a.jpg' })).toBe(true);
    expect(matches(pattern, { FileName: 'a.png' })).toBe(false);
  });

  it('ignoring case: state is not "initializing" in any casing', () => {
    const pattern: EventPattern = {
      detail: { state: [{ 'anything-but': { 'equals-ignore-case': 'initializing' } }] },
    };
    expect(matches(pattern, withDetail({ state: 'INITIALIZING' }))).toBe(false);
    expect(matches(pattern, withDetail({ state: 'running' }))).toBe(true);
    const list: EventPattern = {
      state: [{ 'anything-but': { 'equals-ignore-case': ['initializing', 'stopped'] } }],
    };
    expect(matches(list, { state: 'Stopped' })).toBe(false);
  });

  it('using a wildcard: FilePath does not include /lib/', () => {
    const pattern: EventPattern = { FilePath: [{ 'anything-but': { wildcard: '*/lib/*' } }] };
    expect(matches(pattern, { FilePath: '/usr/lib/tool' })).toBe(false);
    expect(matches(pattern, { FilePath: '/usr/bin/tool' })).toBe(true);
  });

  it('does NOT match a missing field, an object, or an empty array', () => {
    const pattern: EventPattern = { detail: { state: [{ 'anything-but': 'initializing' }] } };
    expect(matches(pattern, { detail: {} })).toBe(false);
    expect(matches(pattern, {})).toBe(false);
    expect(matches(pattern, { detail: { state: { name: 'running' } } })).toBe(false);
    expect(matches(pattern, { detail: { state: [] } })).toBe(false);
  });

  it('on an event array, matches when any element is not excluded', () => {
    const pattern: EventPattern = { states: [{ 'anything-but': 'stopped' }] };
    expect(matches(pattern, { states: ['stopped', 'running'] })).toBe(true);
    expect(matches(pattern, { states: ['stopped', 'stopped'] })).toBe(false);
  });

  it('compares types strictly: a string is never a number', () => {
    expect(matches({ v: [{ 'anything-but': '5' }] }, { v: 5 })).toBe(true);
    expect(matches({ v: [{ 'anything-but': [5] }] }, { v: '5' })).toBe(true);
    expect(matches({ v: [{ 'anything-but': [5] }] }, { v: 5.0 })).toBe(false);
  });

  it('does not exclude null, booleans or numbers it cannot compare (event-ruler assumes a match)', () => {
    expect(matches({ v: [{ 'anything-but': 'x' }] }, { v: null })).toBe(true);
    expect(matches({ v: [{ 'anything-but': { prefix: 'tr' } }] }, { v: true })).toBe(true);
  });
});

describe('Comparison operators: numeric', () => {
  // The docs' numeric example, against the event-ruler sample (c-count 5, d-count 3, x-limit 301.8).
  const pattern: EventPattern = {
    detail: {
      'c-count': [{ numeric: ['>', 0, '<=', 5] }],
      'd-count': [{ numeric: ['<', 10] }],
      'x-limit': [{ numeric: ['=', 3.018e2] }],
    },
  };

  it('matches only when every numeric condition holds', () => {
    expect(matches(pattern, rulerEvent)).toBe(true);
    expect(matches(pattern, withDetail({ 'd-count': 10 }))).toBe(false);
    expect(matches(pattern, withDetail({ 'x-limit': 301.9 }))).toBe(false);
  });

  it('honours open and closed bounds exactly at the boundary', () => {
    expect(matches(pattern, withDetail({ 'c-count': 0 }))).toBe(false);
    expect(matches(pattern, withDetail({ 'c-count': 0.000001 }))).toBe(true);
    expect(matches(pattern, withDetail({ 'c-count': 5 }))).toBe(true);
    expect(matches(pattern, withDetail({ 'c-count': 5.000001 }))).toBe(false);
    expect(matches(pattern, withDetail({ 'd-count': 9.999999 }))).toBe(true);
    const closed: EventPattern = { n: [{ numeric: ['>=', 1, '<', 2] }] };
    expect(matches(closed, { n: 1 })).toBe(true);
    expect(matches(closed, { n: 2 })).toBe(false);
    expect(matches({ n: [{ numeric: ['>=', -1] }] }, { n: -1 })).toBe(true);
    expect(matches({ n: [{ numeric: ['<=', -1] }] }, { n: -0.5 })).toBe(false);
  });

  it('only works on JSON numbers, never on numeric strings', () => {
    expect(matches(pattern, withDetail({ 'c-count': '5' }))).toBe(false);
  });

  it('treats event values beyond ±5e9 as out of range', () => {
    expect(matches({ n: [{ numeric: ['>', 0] }] }, { n: 5e9 })).toBe(true);
    expect(matches({ n: [{ numeric: ['>', 0] }] }, { n: 5e9 + 1 })).toBe(false);
  });

  it('compares exact number values by value: 300 matches 300.0 and 3.0e2', () => {
    expect(matches({ n: [300] }, JSON.parse('{"n": 300.0}'))).toBe(true);
    expect(matches({ n: [3.0e2] }, JSON.parse('{"n": 300}'))).toBe(true);
    expect(matches({ n: [300] }, { n: '300' })).toBe(false);
    expect(matches({ n: ['300'] }, { n: 300 })).toBe(false);
    expect(matches({ n: [true] }, { n: 'true' })).toBe(false);
  });
});

describe('Comparison operators: IP address (cidr)', () => {
  const pattern: EventPattern = { detail: { 'source-ip': [{ cidr: '10.0.0.0/24' }] } };

  it('matches addresses inside 10.0.0.0/24 and nothing else', () => {
    expect(matches(pattern, rulerEvent)).toBe(true);
    expect(matches(pattern, withDetail({ 'source-ip': '10.0.0.255' }))).toBe(true);
    expect(matches(pattern, withDetail({ 'source-ip': '10.0.1.0' }))).toBe(false);
    expect(matches(pattern, withDetail({ 'source-ip': 'not-an-ip' }))).toBe(false);
    expect(matches(pattern, withDetail({ 'source-ip': 167772161 }))).toBe(false);
  });

  it('works with IPv6', () => {
    const v6: EventPattern = { ip: [{ cidr: '2001:db8::/32' }] };
    expect(matches(v6, { ip: '2001:db8:1::5' })).toBe(true);
    expect(matches(v6, { ip: '2001:db9::5' })).toBe(false);
  });
});

describe('Comparison operators: exists', () => {
  const hasState: EventPattern = { detail: { state: [{ exists: true }] } };
  const noCCount: EventPattern = { detail: { 'c-count': [{ exists: false }] } };

  it('exists: true matches the docs event that has detail.state', () => {
    expect(
      matches(hasState, {
        'detail-type': 'EC2 Instance State-change Notification',
        source: 'aws.ec2',
        detail: { 'instance-id': 'i-abcd1111', state: 'pending' },
      }),
    ).toBe(true);
  });

  it('exists: true does not match the docs event without detail.state', () => {
    expect(matches(hasState, { detail: { 'c-count': { c1: 100 } } })).toBe(false);
  });

  it('exists: false matches an event without the field', () => {
    expect(matches(noCCount, { detail: { state: ['initializing', 'running'] } })).toBe(true);
    expect(matches(noCCount, rulerEvent)).toBe(false);
  });

  it('works on leaf nodes only: an object-valued field does not "exist"', () => {
    const event = { detail: { state: ['initializing', 'running'], 'c-count': { c1: 100 } } };
    expect(matches(noCCount, event)).toBe(true);
    expect(matches({ detail: { 'c-count': [{ exists: true }] } }, event)).toBe(false);
  });

  it('counts a null value as present and an empty array as absent', () => {
    expect(matches(hasState, { detail: { state: null } })).toBe(true);
    expect(matches(hasState, { detail: { state: [] } })).toBe(false);
    expect(matches({ detail: { state: [{ exists: false }] } }, { detail: { state: [] } })).toBe(true);
  });

  it('exists: false matches when a parent of the field is missing or not an object', () => {
    expect(matches(noCCount, { source: 'aws.ec2' })).toBe(true);
    expect(matches(noCCount, { detail: 'text' })).toBe(true);
    expect(matches(noCCount, 'not an object')).toBe(true);
    expect(matches(hasState, null)).toBe(false);
  });

  it('combines with other alternatives: a value or absent', () => {
    const pattern: EventPattern = { detail: { mode: ['fast', { exists: false }] } };
    expect(matches(pattern, { detail: {} })).toBe(true);
    expect(matches(pattern, { detail: { mode: 'fast' } })).toBe(true);
    expect(matches(pattern, { detail: { mode: 'slow' } })).toBe(false);
  });
});

describe('Comparison operators: complex example with multiple matching', () => {
  const pattern: EventPattern = {
    time: [{ prefix: '2017-10-02' }],
    detail: {
      state: [{ 'anything-but': 'initializing' }],
      'c-count': [{ numeric: ['>', 0, '<=', 5] }],
      'd-count': [{ numeric: ['<', 10] }],
      'x-limit': [{ 'anything-but': [100, 200, 300] }],
      'source-ip': [{ cidr: '10.0.0.0/8' }],
    },
  };

  it('matches the event-ruler sample event', () => {
    expect(matches(pattern, rulerEvent)).toBe(true);
  });

  it('fails when any one condition fails', () => {
    expect(matches(pattern, { ...rulerEvent, time: '2017-10-03T00:00:00Z' })).toBe(false);
    expect(matches(pattern, withDetail({ 'x-limit': 300 }))).toBe(false);
    expect(matches(pattern, withDetail({ 'source-ip': '11.0.0.1' }))).toBe(false);
  });

  it('uses the last occurrence of a key repeated in the pattern JSON (docs note)', () => {
    const parsed = JSON.parse(
      '{"detail": {"location": [{"prefix": "us-"}], "location": [{"anything-but": "us-east"}]}}',
    ) as EventPattern;
    expect(matches(parsed, { detail: { location: 'eu-west' } })).toBe(true);
    expect(matches(parsed, { detail: { location: 'us-east' } })).toBe(false);
  });
});

// Docs: "Comparison operators ..." (Wildcard matching); AWS Compute Blog "Filtering events in Amazon
// EventBridge with wildcard pattern matching"; aws/event-ruler README (escaping rules).
describe('Comparison operators: wildcard', () => {
  it('matches any .png file in the folder "dir"', () => {
    const pattern: EventPattern = { FileName: [{ wildcard: 'dir/*.png' }] };
    expect(matches(pattern, { FileName: 'dir/a.png' })).toBe(true);
    expect(matches(pattern, { FileName: 'dir/sub/a.png' })).toBe(true);
    expect(matches(pattern, { FileName: 'other/a.png' })).toBe(false);
    expect(matches(pattern, { FileName: 'dir/a.png.bak' })).toBe(false);
  });

  it('matches zero, one or many characters per *', () => {
    const pattern: EventPattern = { title: [{ wildcard: '*Title*' }] };
    expect(matches(pattern, { title: 'Title' })).toBe(true);
    expect(matches(pattern, { title: 'My Title here' })).toBe(true);
    expect(matches(pattern, { title: 'title' })).toBe(false);
    expect(matches({ v: [{ wildcard: '*' }] }, { v: '' })).toBe(true);
  });

  it('matches an ARN with wildcards in several places', () => {
    const pattern: EventPattern = { EventBusArn: [{ wildcard: 'arn:aws:events:us-east-1:*:event-bus/*' }] };
    expect(matches(pattern, { EventBusArn: 'arn:aws:events:us-east-1:123456789012:event-bus/default' })).toBe(
      true,
    );
    expect(matches(pattern, { EventBusArn: 'arn:aws:events:us-west-2:123456789012:event-bus/default' })).toBe(
      false,
    );
  });

  it('does not let the prefix and suffix literals overlap', () => {
    expect(matches({ v: [{ wildcard: 'ab*ba' }] }, { v: 'aba' })).toBe(false);
    expect(matches({ v: [{ wildcard: 'ab*ba' }] }, { v: 'abba' })).toBe(true);
    expect(matches({ v: [{ wildcard: 'a*b*c' }] }, { v: 'acbc' })).toBe(true);
    expect(matches({ v: [{ wildcard: 'a*b*c' }] }, { v: 'acb' })).toBe(false);
  });

  it('\\* is a literal asterisk and \\\\ a literal backslash', () => {
    const star: EventPattern = { v: [{ wildcard: 'a\\*b' }] }; // the JSON string "a\\*b"
    expect(matches(star, { v: 'a*b' })).toBe(true);
    expect(matches(star, { v: 'axxb' })).toBe(false);
    const backslashThenStar: EventPattern = { v: [{ wildcard: 'c:\\\\*' }] }; // literal backslash, then *
    expect(matches(backslashThenStar, { v: 'c:\\temp' })).toBe(true);
    expect(matches(backslashThenStar, { v: 'c:/temp' })).toBe(false);
  });

  it('only matches strings', () => {
    expect(matches({ v: [{ wildcard: '1*' }] }, { v: 12 })).toBe(false);
  });
});

// Docs: "Comparison operators ..." (Or matching); aws/event-ruler README ("$or" primitive examples).
describe('Comparison operators: $or', () => {
  it('Location is "New York", or Day is "Monday"', () => {
    const pattern: EventPattern = { $or: [{ Location: ['New York'] }, { Day: ['Monday'] }] };
    expect(matches(pattern, { Location: 'New York', Day: 'Friday' })).toBe(true);
    expect(matches(pattern, { Location: 'Boston', Day: 'Monday' })).toBe(true);
    expect(matches(pattern, { Location: 'Boston', Day: 'Friday' })).toBe(false);
  });

  it('ORs numeric conditions inside detail', () => {
    const pattern: EventPattern = {
      detail: {
        $or: [
          { 'c-count': [{ numeric: ['>', 0, '<=', 5] }] },
          { 'd-count': [{ numeric: ['<', 10] }] },
          { 'x-limit': [{ numeric: ['=', 3.018e2] }] },
        ],
      },
    };
    expect(matches(pattern, { detail: { 'c-count': 50, 'd-count': 50, 'x-limit': 301.8 } })).toBe(true);
    expect(matches(pattern, { detail: { 'c-count': 50, 'd-count': 50, 'x-limit': 1 } })).toBe(false);
  });

  it('is ANDed with sibling fields: source && (metricName || namespace)', () => {
    const pattern: EventPattern = {
      source: ['aws.cloudwatch'],
      $or: [{ metricName: ['CPUUtilization', 'ReadLatency'] }, { namespace: ['AWS/EC2', 'AWS/ES'] }],
    };
    expect(matches(pattern, { source: 'aws.cloudwatch', namespace: 'AWS/ES' })).toBe(true);
    expect(matches(pattern, { source: 'aws.ec2', namespace: 'AWS/ES' })).toBe(false);
    expect(matches(pattern, { source: 'aws.cloudwatch', namespace: 'AWS/S3' })).toBe(false);
  });

  it('parallel $or at two levels must both hold', () => {
    const pattern: EventPattern = {
      $or: [{ metricName: ['CPUUtilization'] }, { namespace: ['AWS/EC2'] }],
      detail: { $or: [{ source: ['aws.cloudwatch'] }, { 'detail-type': ['CloudWatch Alarm State Change'] }] },
    };
    expect(
      matches(pattern, { namespace: 'AWS/EC2', detail: { 'detail-type': 'CloudWatch Alarm State Change' } }),
    ).toBe(true);
    expect(matches(pattern, { namespace: 'AWS/EC2', detail: { source: 'aws.s3' } })).toBe(false);
  });

  it('nests: source && (metricName || (metricType && namespace && (metricId || spaceId)) || scope)', () => {
    const pattern: EventPattern = {
      source: ['aws.cloudwatch'],
      $or: [
        { metricName: ['CPUUtilization', 'ReadLatency'] },
        {
          metricType: ['MetricType'],
          namespace: ['AWS/EC2', 'AWS/ES'],
          $or: [{ metricId: [1234] }, { spaceId: [1000] }],
        },
        { scope: ['Service'] },
      ],
    };
    const base = { source: 'aws.cloudwatch', metricType: 'MetricType', namespace: 'AWS/EC2' };
    expect(matches(pattern, { ...base, spaceId: 1000 })).toBe(true);
    expect(matches(pattern, { ...base, spaceId: 999 })).toBe(false);
    expect(matches(pattern, { ...base, spaceId: 999, scope: 'Service' })).toBe(true);
  });

  it('a branch may rely on exists: false', () => {
    const pattern: EventPattern = { detail: { $or: [{ retry: [{ exists: false }] }, { retry: [0] }] } };
    expect(matches(pattern, { detail: {} })).toBe(true);
    expect(matches(pattern, { detail: { retry: 0 } })).toBe(true);
    expect(matches(pattern, { detail: { retry: 2 } })).toBe(false);
  });
});

describe('missing fields and odd events', () => {
  const filters: EventPattern[] = [
    { detail: { status: ['Completed'] } },
    { detail: { status: [null] } },
    { detail: { status: [{ prefix: '' }] } },
    { detail: { status: [{ suffix: 'd' }] } },
    { detail: { status: [{ 'equals-ignore-case': 'completed' }] } },
    { detail: { status: [{ wildcard: '*' }] } },
    { detail: { status: [{ numeric: ['>=', 0] }] } },
    { detail: { status: [{ cidr: '0.0.0.0/0' }] } },
    { detail: { status: [{ 'anything-but': 'Failed' }] } },
    { detail: { status: [{ exists: true }] } },
  ];

  it('a missing field matches no filter at all', () => {
    for (const pattern of filters) expect(matches(pattern, { detail: { other: 1 } })).toBe(false);
  });

  it('ignores inherited properties: "constructor" is missing in {}', () => {
    expect(matches({ constructor: [{ exists: false }] }, {})).toBe(true);
    expect(matches({ toString: [{ exists: true }] }, {})).toBe(false);
  });

  it('never throws for non-object events', () => {
    for (const event of [undefined, null, 42, 'x', [1, 2]]) {
      expect(matches({ source: ['rsqlo'] }, event)).toBe(false);
    }
  });

  it('routes a realistic rsqlo envelope', () => {
    const event = {
      source: 'rsqlo',
      'detail-type': 'JobFinished',
      detail: { version: 1, status: 'TimedOut', exit_code: null, workflow_id: 'blog_test_workflow' },
    };
    const failures: EventPattern = {
      source: ['rsqlo'],
      'detail-type': ['JobFinished'],
      detail: { status: ['Failed', 'TimedOut'] },
    };
    expect(matches(failures, event)).toBe(true);
    expect(matches(failures, { ...event, detail: { ...event.detail, status: 'Completed' } })).toBe(false);
  });
});

describe('validatePattern', () => {
  it('accepts every pattern used above and returns it unchanged', () => {
    expect(usedPatterns.length).toBeGreaterThan(50);
    for (const pattern of usedPatterns) expect(validatePattern(pattern)).toBe(pattern);
  });

  it('names the path of an unknown operator', () => {
    const error = invalid({ detail: { status: [{ prefx: 'a' }] } });
    expect(error).toBeInstanceOf(InvalidPatternError);
    expect(error.name).toBe('InvalidPatternError');
    expect(error.path).toBe('detail.status[0]');
    expect(error.message).toMatch(/^detail\.status\[0\]: unknown operator "prefx"/);
  });

  it.each([
    ['a non-object pattern', [], /^\(root\): must be an object, got an array/],
    ['a null pattern', null, /^\(root\): must be an object, got null/],
    ['an empty pattern', {}, /^\(root\): empty objects are not allowed/],
    ['an empty nested object', { detail: {} }, /^detail: empty objects are not allowed/],
    [
      'a non-array leaf',
      { source: 'aws.ec2' },
      /^source: must be an array of match values or a nested object/,
    ],
    ['a numeric leaf', { detail: { n: 5 } }, /^detail\.n: must be an array/],
    ['an empty array', { source: [] }, /^source: empty arrays are not allowed/],
    [
      'a nested array',
      { detail: { ids: [[1]] } },
      /^detail\.ids\[0\]: match values must be a string, number/,
    ],
    ['a NaN value', { n: [Number.NaN] }, /^n\[0\]: must be a finite number/],
    [
      'a filter with two operators',
      { s: [{ prefix: 'a', suffix: 'b' }] },
      /^s\[0\]: a filter object takes exactly one operator/,
    ],
    ['an empty filter', { s: [{}] }, /^s\[0\]: empty filter objects/],
    ['a filter without its array', { s: { prefix: 'a' } }, /^s\.prefix: .*inside the field's array/],
    ['a non-string prefix', { s: [{ prefix: 1 }] }, /^s\[0\]\.prefix: must be a string or/],
    [
      'prefix with an unknown nested key',
      { s: [{ prefix: { 'ignore-case': 'a' } }] },
      /^s\[0\]\.prefix: only/,
    ],
    [
      'prefix ignore-case not a string',
      { s: [{ prefix: { 'equals-ignore-case': 1 } }] },
      /^s\[0\]\.prefix\.equals-ignore-case: must be a string, got number 1/,
    ],
    [
      'a non-string equals-ignore-case',
      { s: [{ 'equals-ignore-case': ['a'] }] },
      /must be a string, got an array/,
    ],
    ['exists not boolean', { s: [{ exists: 'yes' }] }, /^s\[0\]\.exists: must be true or false/],
    ['numeric not an array', { n: [{ numeric: '>5' }] }, /^n\[0\]\.numeric: must be an array/],
    ['numeric with 3 elements', { n: [{ numeric: ['>', 0, '<'] }] }, /got 3 elements/],
    [
      'an unknown numeric operator',
      { n: [{ numeric: ['==', 5] }] },
      /^n\[0\]\.numeric\[0\]: unknown numeric operator "=="/,
    ],
    ['a string numeric value', { n: [{ numeric: ['=', '5'] }] }, /^n\[0\]\.numeric\[1\]: must be a number/],
    [
      'a range starting with its upper bound',
      { n: [{ numeric: ['<', 10, '>', 0] }] },
      /must start with its lower bound/,
    ],
    ['= with a second bound', { n: [{ numeric: ['=', 1, '<', 2] }] }, /must start with its lower bound/],
    [
      'an upper bound using >',
      { n: [{ numeric: ['>', 0, '>', 2] }] },
      /^n\[0\]\.numeric\[2\]: the upper bound/,
    ],
    [
      'an empty range',
      { n: [{ numeric: ['>', 5, '<', 5] }] },
      /lower bound 5 must be less than upper bound 5/,
    ],
    [
      'a numeric value beyond 5e9',
      { n: [{ numeric: ['<', 6e9] }] },
      /^n\[0\]\.numeric\[1\]: must be between/,
    ],
    ['seven decimal places', { n: [{ numeric: ['>', 0.1234567] }] }, /at most 6 decimal places/],
    ['seven decimal places in exponent form', { n: [{ numeric: ['>', 1e-7] }] }, /at most 6 decimal places/],
    ['anything-but mixed list', { s: [{ 'anything-but': ['a', 1] }] }, /only strings or only numbers/],
    ['anything-but empty list', { s: [{ 'anything-but': [] }] }, /^s\[0\]\.anything-but: empty arrays/],
    [
      'anything-but null',
      { s: [{ 'anything-but': null }] },
      /^s\[0\]\.anything-but: must be a string, a number/,
    ],
    ['anything-but boolean list', { s: [{ 'anything-but': [true] }] }, /only strings or only numbers/],
    [
      'anything-but unknown operator',
      { s: [{ 'anything-but': { regex: 'a' } }] },
      /unsupported anything-but operator "regex"/,
    ],
    [
      'anything-but empty prefix',
      { s: [{ 'anything-but': { prefix: '' } }] },
      /an empty prefix is not allowed/,
    ],
    [
      'anything-but numeric prefix',
      { s: [{ 'anything-but': { prefix: 5 } }] },
      /anything-but\.prefix: must be a string/,
    ],
    [
      'anything-but bad wildcard in a list',
      { s: [{ 'anything-but': { wildcard: ['ok*', 'a**b'] } }] },
      /^s\[0\]\.anything-but\.wildcard\[1\]: invalid wildcard/,
    ],
    [
      'consecutive wildcards',
      { s: [{ wildcard: 'a**b' }] },
      /^s\[0\]\.wildcard: invalid wildcard "a\*\*b": consecutive/,
    ],
    ['an escape other than \\* or \\\\', { s: [{ wildcard: 'a\\b' }] }, /invalid escape at position 1/],
    ['a trailing backslash', { s: [{ wildcard: 'a\\' }] }, /invalid escape/],
    [
      'a CIDR without prefix length',
      { ip: [{ cidr: '10.0.0.0' }] },
      /^ip\[0\]\.cidr: must be an IPv4 or IPv6 CIDR block/,
    ],
    ['a CIDR prefix too long', { ip: [{ cidr: '10.0.0.0/33' }] }, /CIDR block/],
    ['a CIDR that is not an address', { ip: [{ cidr: 'nope/8' }] }, /CIDR block/],
    ['$or not an array', { $or: { source: ['a'] } }, /^\$or: must be an array of at least two objects/],
    ['$or with one branch', { $or: [{ source: ['a'] }] }, /^\$or: must hold at least two objects, got 1/],
    [
      '$or with a scalar branch',
      { $or: [{ source: ['a'] }, 'b'] },
      /^\$or\[1\]: \$or entries must be objects/,
    ],
    [
      '$or with an empty branch',
      { $or: [{ source: ['a'] }, {}] },
      /^\$or\[1\]: empty objects are not allowed/,
    ],
    [
      'a reserved name inside $or',
      { $or: [{ prefix: ['a'] }, { source: ['b'] }] },
      /^\$or\[0\]\.prefix: "prefix" is a reserved/,
    ],
    [
      'a reserved name deep inside $or',
      { $or: [{ detail: { numeric: [1] } }, { a: ['b'] }] },
      /^\$or\[0\]\.detail\.numeric: /,
    ],
    [
      'an invalid value inside a nested $or',
      { detail: { $or: [{ a: ['x'] }, { b: [{ numeric: ['>', 'x'] }] }] } },
      /^detail\.\$or\[1\]\.b\[0\]\.numeric\[1\]: must be a number/,
    ],
    ['a key that needs quoting', { 'a.b c': 'x' }, /^\["a\.b c"\]: must be an array/],
  ])('rejects %s', (_label, pattern, message) => {
    expect(invalid(pattern).message).toMatch(message);
  });

  it('allows operator names as ordinary field names outside $or', () => {
    expect(() => validatePattern({ prefix: ['a'], detail: { numeric: [1] } })).not.toThrow();
  });
});
