/** How a command refuses: one sentence, and the one sentence for a run the database does not know. */

/** A refusal or a failure, said in one sentence. */
export type Failure = { ok: false; message: string };

/** The answer of a command about a run the database does not know. */
export const noRun = (id: string): Failure => ({ ok: false as const, message: `no run "${id}"` });
