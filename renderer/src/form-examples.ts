/**
 * The examples the launch and ablation forms show as placeholders. Each must be valid input
 * for every variant (tests/unit/form-examples.test.ts expands them): an example that is itself
 * refused ("unknown key train") teaches the wrong syntax.
 */
export const LAUNCH_OVERRIDES_EXAMPLE = 'loop.iterations=3\nwarmup.steps=300';
export const ABLATION_OVERRIDES_EXAMPLE = 'loop.iterations=3';
export const ABLATION_SWEEPS_EXAMPLE = 'loop.lr=1e-4,3e-4';
