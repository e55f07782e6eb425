/** What a run is called wherever runs are listed: the name its author gave it, else one made from what it ran. */
export function runName(r: { name: string | null; variant: string; dataset: string; seed: number }): string {
  return r.name ?? `${r.variant} · ${r.dataset} · s${r.seed}`;
}
