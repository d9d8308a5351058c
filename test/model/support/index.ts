export * from './coverage.ts';
export * from './events.ts';
export * from './paths.ts';
export * from './transitions.ts';
