/** The groups of runtime files pass 2 mutates (runtimes.config.mjs), for scripts/mutation.ts. */
export declare const RUNTIME_GROUPS: Record<string, string[]>;
declare const config: Record<string, unknown>;
export default config;
