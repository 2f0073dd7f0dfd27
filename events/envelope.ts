import { z } from 'zod';
import { ContractError, toContractIssues } from '../contracts/common.js';
import {
  type DetailType,
  EVENT_SCHEMAS,
  EVENT_SOURCE,
  isDetailType,
  type RsqloEvent,
} from '../contracts/events.js';

/** The EventBridge envelope, as rules match it and targets receive it. */
export interface EventEnvelope<D = unknown> {
  version: '0';
  id: string;
  'detail-type': string;
  source: string;
  account: string;
  time: string;
  region: string;
  resources: string[];
  detail: D;
}

const Envelope = z.object({
  version: z.string().optional(),
  id: z.string().min(1),
  'detail-type': z.string().min(1),
  source: z.string().min(1),
  account: z.string().optional(),
  time: z.string().optional(),
  region: z.string().optional(),
  resources: z.array(z.string()).optional(),
  detail: z.unknown(),
});

/** Wraps a service's event the way EventBridge delivers it; locally account/region are fixed words. */
export function toEnvelope(
  event: RsqloEvent,
  opts: { id: string; time?: string; account?: string; region?: string },
): EventEnvelope {
  return {
    version: '0',
    id: opts.id,
    'detail-type': event.detailType,
    source: EVENT_SOURCE,
    account: opts.account ?? 'local',
    time: opts.time ?? new Date().toISOString(),
    region: opts.region ?? 'local',
    resources: [],
    detail: event.detail,
  };
}

export type ParsedEnvelope = {
  [T in DetailType]: {
    id: string;
    time: string | undefined;
    detailType: T;
    detail: z.infer<(typeof EVENT_SCHEMAS)[T]>;
  };
}[DetailType];

/**
 * Parses an envelope from `unknown`: the source must be rsqlo, the detail-type known, the detail
 * valid for it. Anything else is a ContractError naming the problem (never a state change).
 */
export function parseEnvelope(value: unknown): ParsedEnvelope {
  const env = Envelope.safeParse(value);
  if (!env.success) throw new ContractError('event envelope', toContractIssues(env.error));
  const e = env.data;
  if (e.source !== EVENT_SOURCE) {
    throw new ContractError('event envelope', [
      { path: 'source', message: `expected "${EVENT_SOURCE}", got "${e.source}"` },
    ]);
  }
  const dt = e['detail-type'];
  if (!isDetailType(dt)) {
    throw new ContractError('event envelope', [
      { path: 'detail-type', message: `unknown detail-type "${dt}"` },
    ]);
  }
  const schema = EVENT_SCHEMAS[dt] as z.ZodType;
  const detail = schema.safeParse(e.detail);
  if (!detail.success) throw new ContractError(`${dt} detail`, toContractIssues(detail.error, ['detail']));
  return { id: e.id, time: e.time, detailType: dt, detail: detail.data } as ParsedEnvelope;
}
