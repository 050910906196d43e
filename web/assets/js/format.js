// Formatting for people: durations, ages, end reasons, deadlines, devices.

/** "1:05:09", "4:59", "0:07" for a duration in ms (negative counts as zero). */
export function clock(ms) {
  const total = Math.max(0, Math.floor(ms / 1000));
  const h = Math.floor(total / 3600);
  const m = Math.floor((total % 3600) / 60);
  const s = total % 60;
  const mm = h ? String(m).padStart(2, '0') : String(m);
  return `${h ? `${h}:` : ''}${mm}:${String(s).padStart(2, '0')}`;
}

/** "just now", "12 s", "5 min", "3 h 10 min", "2 d" for an age in ms. */
export function age(ms) {
  const s = Math.max(0, Math.floor(ms / 1000));
  if (s < 5) return 'just now';
  if (s < 60) return `${s} s`;
  const m = Math.floor(s / 60);
  if (m < 60) return `${m} min`;
  const h = Math.floor(m / 60);
  if (h < 48) return m % 60 ? `${h} h ${m % 60} min` : `${h} h`;
  return `${Math.floor(h / 24)} d`;
}

/** A duration in words for long spans ("24 h", "5 min"), exact enough for a limit. */
export function span(ms) {
  const s = Math.round(ms / 1000);
  if (s < 120) return `${s} s`;
  const m = Math.round(s / 60);
  if (m < 120) return `${m} min`;
  return `${Math.round(m / 60)} h`;
}

const REASONS = {
  ended_by_user: 'a user ended it',
  ticket_expired: 'the ticket expired unused',
  max_lifetime: 'it reached its maximum duration',
  no_viewers: 'nobody was watching',
  device_idle: 'the device stopped sending',
};

/** Why a session ended, in words. */
export function endReason(reason) {
  return REASONS[reason] ?? (reason ? reason.replaceAll('_', ' ') : 'ended');
}

const DEADLINES = {
  ticket_expired: 'ticket expires',
  max_lifetime: 'maximum duration',
  no_viewers: 'ends without viewers',
  device_idle: 'ends if device stays idle',
};

/** What the next timeout will do, in words. */
export function deadlineLabel(reason) {
  return DEADLINES[reason] ?? reason.replaceAll('_', ' ');
}

/** "Pixel 9 · Android 16", or a dash. */
export function deviceLabel(device) {
  if (!device) return '—';
  const parts = [device.model, device.os].filter(Boolean);
  return parts.length ? parts.join(' · ') : 'unnamed device';
}

export function ms(ts) {
  return ts ? Date.parse(ts) : NaN;
}
