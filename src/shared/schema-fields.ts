import * as v from 'valibot';

/**
 * Text that must not be empty, in every schema that asks for it (configuration, API envelopes,
 * the simulator's images and faults), with one message.
 */
export const nonEmptyText = v.pipe(v.string(), v.minLength(1, 'must not be empty'));
