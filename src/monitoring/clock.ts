/**
 * Injectable time source (milliseconds). Monitoring windows take a Clock instead of calling
 * Date.now() so tests can move time deterministically, without sleeping.
 */
export type Clock = () => number;

/** Wall-clock milliseconds; slice boundaries then line up across processes and restarts. */
export const systemClock: Clock = () => Date.now();
