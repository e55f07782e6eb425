/**
 * The examples the launch and ablation forms show as placeholders, for the variants chosen.
 * Each must be valid input for them (tests/unit/form-examples.test.ts expands every case): an
 * example that is itself refused ("unknown key train") teaches the wrong syntax. The STaR
 * family's loop is `loop.*`, Quiet-STaR's `quiet.*`; a mix of both gets keys they share.
 */
type Family = 'loop' | 'quiet' | 'shared';

function familyOf(variants: readonly string[]): Family {
  const quiet = variants.filter((v) => v === 'quiet-star').length;
  return quiet === 0 ? 'loop' : quiet === variants.length ? 'quiet' : 'shared';
}

const LAUNCH: Record<Family, string> = {
  loop: 'loop.iterations=3\nwarmup.steps=300',
  quiet: 'quiet.steps=200\nwarmup.steps=300',
  shared: 'warmup.steps=300',
};
const ABLATION_OVERRIDES: Record<Family, string> = { loop: 'loop.iterations=3', quiet: 'quiet.steps=200', shared: 'warmup.steps=300' };
const ABLATION_SWEEPS: Record<Family, string> = { loop: 'loop.lr=1e-4,3e-4', quiet: 'quiet.lr=1e-6,1e-5', shared: 'warmup.lr=1e-4,3e-4' };

/** The launch form's overrides example for this variant (none chosen yet: the STaR family's). */
export const launchOverridesExample = (variant: string): string => LAUNCH[familyOf(variant ? [variant] : [])];
export const ablationOverridesExample = (variants: readonly string[]): string => ABLATION_OVERRIDES[familyOf(variants)];
export const ablationSweepsExample = (variants: readonly string[]): string => ABLATION_SWEEPS[familyOf(variants)];
