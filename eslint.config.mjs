// Lint: type-aware rules everywhere, and the workflow sandbox rule (no Node built-ins or I/O libraries in
// workflows/ and src/domain/), as Temporal's samples do; the workflow bundler is the backstop.
import { builtinModules } from 'node:module';
import tseslint from 'typescript-eslint';

const sandboxBanned = [
  ...builtinModules,
  ...builtinModules.map((m) => `node:${m}`),
  'ssh2',
  'better-sqlite3',
  'fastify',
  'pino',
  'yaml',
  '@temporalio/activity',
  '@temporalio/client',
  '@temporalio/worker',
  '@temporalio/testing',
];

export default tseslint.config(
  { ignores: ['dist/**', 'node_modules/**', '.tools/**', 'data/**', '.cache/**', '.replay-guard-*/**'] },
  ...tseslint.configs.recommended,
  {
    files: ['**/*.ts'],
    languageOptions: { parserOptions: { projectService: true, tsconfigRootDir: import.meta.dirname } },
    rules: {
      '@typescript-eslint/no-floating-promises': 'error',
      '@typescript-eslint/consistent-type-imports': ['error', { fixStyle: 'inline-type-imports' }],
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_' }],
    },
  },
  {
    files: ['**/*.js', '**/*.cjs'],
    languageOptions: { sourceType: 'commonjs', globals: { require: 'readonly', process: 'readonly', Buffer: 'readonly', __dirname: 'readonly' } },
    rules: { '@typescript-eslint/no-require-imports': 'off' },
  },
  {
    files: ['workflows/**/*.ts', 'src/domain/**/*.ts'],
    rules: {
      'no-restricted-imports': [
        'error',
        { paths: sandboxBanned.map((name) => ({ name, message: 'workflow and domain code is deterministic: no I/O here; use an activity' })) },
      ],
    },
  },
);
