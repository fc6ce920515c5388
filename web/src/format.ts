import { STEP_IDS } from '../../workflows/contract/status';

const dateTime = new Intl.DateTimeFormat(undefined, { dateStyle: 'medium', timeStyle: 'short' });

export function when(iso: string | null | undefined): string {
  return iso ? dateTime.format(new Date(iso)) : '—';
}

export function duration(seconds: number): string {
  if (!Number.isFinite(seconds) || seconds < 0) return '—';
  if (seconds < 60) return `${Math.round(seconds)} s`;
  if (seconds < 3600) return `${Math.floor(seconds / 60)} min ${Math.round(seconds % 60)} s`;
  return `${Math.floor(seconds / 3600)} h ${Math.round((seconds % 3600) / 60)} min`;
}

export function elapsed(from: string | null | undefined, to?: string | null): string {
  if (!from) return '—';
  return duration(((to ? Date.parse(to) : Date.now()) - Date.parse(from)) / 1000);
}

export function bytes(count: number): string {
  if (count < 1024) return `${count} B`;
  const units = ['KiB', 'MiB', 'GiB', 'TiB'];
  let value = count / 1024;
  let unit = 0;
  while (value >= 1024 && unit < units.length - 1) {
    value /= 1024;
    unit += 1;
  }
  return `${value.toFixed(value < 10 ? 1 : 0)} ${units[unit]}`;
}

const STEP_NAMES: Record<string, string> = {
  [STEP_IDS.dataFetch]: 'Fetch imagery',
  [STEP_IDS.modelInference]: 'Model inference',
  [STEP_IDS.genericProcessor]: 'Generic processor',
  [STEP_IDS.pushToGeoserver]: 'Publish',
};

export function stepName(stepId: string): string {
  return STEP_NAMES[stepId] ?? stepId;
}

export function shortId(id: string): string {
  return id.slice(0, 8);
}

export function json(value: unknown): string {
  return JSON.stringify(value, null, 2);
}
