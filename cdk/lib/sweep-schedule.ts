import * as events from 'aws-cdk-lib/aws-events';

/** How often the guard sweeps every guarded policy unless `sweepSchedule` says otherwise. */
export const DEFAULT_SWEEP_SCHEDULE = 'rate(1 hour)';
/** The `sweepSchedule` value that creates no schedule rule. */
export const SWEEP_OFF = 'off';

const RATE = /^rate\((\d+) (minute|minutes|hour|hours|day|days)\)$/;
const CRON = /^cron\(([^()]*)\)$/;
/** Characters EventBridge allows in each cron field: minutes, hours, day-of-month, month, day-of-week, year. */
const CRON_FIELDS: readonly [string, RegExp][] = [
  ['minutes', /^[0-9,\-*/]+$/],
  ['hours', /^[0-9,\-*/]+$/],
  ['day-of-month', /^[0-9,\-*/?LW]+$/],
  ['month', /^[0-9A-Za-z,\-*/]+$/],
  ['day-of-week', /^[0-9A-Za-z,\-*/?L#]+$/],
  ['year', /^[0-9,\-*/]+$/],
];

/**
 * Why `value` is not a schedule EventBridge accepts, or undefined when it is one (or `off`).
 * Checked at synth, so a typo fails `cdk synth` instead of the deployment.
 */
export function sweepScheduleError(value: string): string | undefined {
  if (value === SWEEP_OFF) {
    return undefined;
  }
  const usage = `use "rate(N minute|minutes|hour|hours|day|days)", "cron(minutes hours day-of-month month day-of-week year)" `
    + `or "${SWEEP_OFF}" to run no sweep`;
  const rate = RATE.exec(value);
  if (rate) {
    const n = Number(rate[1]);
    if (n < 1) {
      return `sweepSchedule "${value}": a rate must be at least 1.`;
    }
    // EventBridge rejects `rate(1 hours)` and `rate(2 hour)`.
    if ((n === 1) !== !rate[2].endsWith('s')) {
      return `sweepSchedule "${value}": the unit must be singular for 1 and plural otherwise, e.g. "rate(1 hour)", "rate(6 hours)".`;
    }
    return undefined;
  }
  const cron = CRON.exec(value);
  if (cron) {
    const fields = cron[1].trim().split(/\s+/);
    if (fields.length !== CRON_FIELDS.length) {
      return `sweepSchedule "${value}": a cron expression has 6 fields (minutes hours day-of-month month day-of-week year), got ${fields.length}.`;
    }
    for (const [i, [name, allowed]] of CRON_FIELDS.entries()) {
      if (!allowed.test(fields[i])) {
        return `sweepSchedule "${value}": cron field ${name} "${fields[i]}" is not valid.`;
      }
    }
    if ((fields[2] === '?') === (fields[4] === '?')) {
      return `sweepSchedule "${value}": exactly one of day-of-month and day-of-week must be "?", e.g. "cron(0 3 * * ? *)".`;
    }
    return undefined;
  }
  return `sweepSchedule "${value}" is not a schedule: ${usage}.`;
}

/** The schedule for a valid `sweepSchedule` value, or undefined for `off`. */
export function sweepSchedule(value: string): events.Schedule | undefined {
  const error = sweepScheduleError(value);
  if (error) {
    throw new Error(`Error - ${error}`);
  }
  return value === SWEEP_OFF ? undefined : events.Schedule.expression(value);
}
