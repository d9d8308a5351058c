import { resolve } from 'node:path';
import { defineConfig } from 'vitest/config';
import base from '../../../vitest.config.ts';

/** The tests mutation pass 1 runs against machines/: the model tests (paths, negative steps, purity). */
export const MODEL_TESTS = ['test/model/*.test.ts'];

export default defineConfig({
  ...base,
  root: resolve(import.meta.dirname, '../../..'),
  test: { ...base.test, include: MODEL_TESTS },
});
