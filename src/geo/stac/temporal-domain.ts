/**
 * `temporal_domain` entries: "YYYY-MM-DD" (that whole UTC day) or "start/end" where each side is a date
 * or an RFC 3339 date-time (a date as end means the end of that day). Shared by the API (validation,
 * task building) and the data-fetch step (STAC `datetime`).
 */
export interface TimeInterval {
  start: Date;
  end: Date;
  /** RFC 3339 interval for a STAC search, e.g. 2024-06-15T00:00:00Z/2024-06-15T23:59:59.999Z. */
  datetime: string;
}

const DATE = /^\d{4}-\d{2}-\d{2}$/;
const DATE_TIME = /^\d{4}-\d{2}-\d{2}[Tt]\d{2}:\d{2}:\d{2}(\.\d+)?([Zz]|[+-]\d{2}:\d{2})$/;
const DAY_MS = 86_400_000;

export class TemporalDomainError extends Error {}

function realDate(value: string): Date {
  const date = new Date(`${value}T00:00:00Z`);
  // Date.parse rolls 2024-02-30 over to March: compare back to refuse it.
  if (Number.isNaN(date.getTime()) || !date.toISOString().startsWith(value))
    throw new TemporalDomainError(`${value} is not a real calendar date`);
  return date;
}

function parseInstant(value: string, side: 'start' | 'end'): Date {
  if (DATE.test(value)) {
    const day = realDate(value);
    return side === 'start' ? day : new Date(day.getTime() + DAY_MS - 1);
  }
  if (DATE_TIME.test(value)) {
    realDate(value.slice(0, 10));
    const instant = new Date(value);
    if (Number.isNaN(instant.getTime())) throw new TemporalDomainError(`${value} is not a valid RFC 3339 date-time`);
    return instant;
  }
  throw new TemporalDomainError(`"${value}" must be a date YYYY-MM-DD or an RFC 3339 date-time`);
}

/** Parses one entry; throws TemporalDomainError with a message fit for a 400. */
export function parseTemporalEntry(entry: string): TimeInterval {
  const parts = entry.split('/');
  if (parts.length > 2) throw new TemporalDomainError(`"${entry}" must be a date YYYY-MM-DD or an interval start/end`);
  const start = parseInstant(parts[0].trim(), 'start');
  const end = parseInstant((parts[1] ?? parts[0]).trim(), 'end');
  if (end.getTime() < start.getTime()) throw new TemporalDomainError(`"${entry}": the end is before the start`);
  return { start, end, datetime: `${start.toISOString()}/${end.toISOString()}` };
}

/** Whether an item's acquisition time (RFC 3339) falls in the interval, both ends included. */
export function inInterval(datetime: string | undefined | null, interval: { start: Date; end: Date }): boolean {
  if (!datetime) return false;
  const time = new Date(datetime).getTime();
  return time >= interval.start.getTime() && time <= interval.end.getTime();
}
