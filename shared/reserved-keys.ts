/**
 * Keys that cannot name a config path (an override, a swept key): on a plain object they act
 * on its prototype instead of being stored. The contract refuses them (shared/contract.ts); the
 * forms refuse them as they are typed. No zod here: the renderer imports it.
 */
export const RESERVED_KEYS: readonly string[] = ['__proto__', 'constructor', 'prototype'];

export function reservedKeyMessage(key: string): string {
  return `"${key}" cannot be a config key (a name reserved by JavaScript objects)`;
}
