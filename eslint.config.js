// ESLint flat config. The raft core must stay pure: no I/O, no clocks, no ambient randomness.
import js from '@eslint/js';
import tseslint from 'typescript-eslint';

const impureGlobals = ['Date', 'setTimeout', 'setInterval', 'setImmediate', 'performance', 'process']
  .map((name) => ({ name, message: 'src/raft is pure: time is tick(), I/O lives in src/store.' }));

export default tseslint.config(
  { ignores: ['dist/**', 'node_modules/**', 'src/raft/gen/**', 'src/store/kv-gen/**', 'src/store/admin-gen/**', '.strata/**'] },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    rules: {
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
      'max-len': ['error', { code: 100, ignoreUrls: true, ignoreStrings: true, ignoreTemplateLiterals: true }],
    },
  },
  {
    files: ['src/raft/**/*.ts'],
    ignores: ['src/raft/**/*.test.ts'],
    rules: {
      'no-restricted-globals': ['error', ...impureGlobals],
      'no-restricted-properties': ['error', { object: 'Math', property: 'random', message: 'use config.random' }],
      'no-restricted-imports': ['error', {
        patterns: [
          { group: ['node:*', 'fs', 'net', 'timers', 'os', 'child_process', 'worker_threads'],
            message: 'src/raft is pure: no Node I/O modules.' },
          { group: ['../store/*', '../client/*', '../ring/*', '../cli/*'],
            message: 'src/raft must not import higher layers.' },
        ],
      }],
    },
  },
);
