import js from '@eslint/js';
import tseslint from 'typescript-eslint';
import vitest from '@vitest/eslint-plugin';
import n from 'eslint-plugin-n';
import prettier from 'eslint-config-prettier';

export default tseslint.config(
  { ignores: ['dist/**', 'node_modules/**', 'coverage/**', 'backups/**', '.sandbox/**'] },
  js.configs.recommended,
  ...tseslint.configs.recommendedTypeChecked,
  {
    languageOptions: {
      parserOptions: { projectService: { allowDefaultProject: ['bin/*.js', 'eslint.config.js'] }, tsconfigRootDir: import.meta.dirname },
    },
    linterOptions: { reportUnusedDisableDirectives: 'error' },
    plugins: { n },
    rules: {
      '@typescript-eslint/no-floating-promises': 'error',
      '@typescript-eslint/no-misused-promises': 'error',
      '@typescript-eslint/consistent-type-imports': 'error',
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
      'n/prefer-node-protocol': 'error',
      'n/no-process-exit': 'error',
      complexity: ['warn', 25],
      'max-params': ['warn', 5],
    },
  },
  {
    files: ['src/lib/**/*.ts'],
    rules: {
      'no-restricted-imports': [
        'error',
        {
          paths: [
            { name: '@oclif/core', message: 'src/lib never imports oclif: commands adapt the library to the CLI.' },
            { name: 'node:child_process', message: 'Use the ProcessRunner (src/lib/process.ts).' },
            { name: 'listr2', message: 'Progress rendering belongs to src/cli.' },
          ],
        },
      ],
      'no-console': 'error',
    },
  },
  {
    files: ['src/lib/process.ts'],
    rules: { 'no-restricted-imports': 'off' },
  },
  {
    files: ['test/**/*.ts'],
    plugins: { vitest },
    rules: {
      ...vitest.configs.recommended.rules,
      'vitest/expect-expect': ['error', { assertFunctionNames: ['expect', 'expect*'] }],
      // expect(value, message) names the failing case.
      'vitest/valid-expect': ['error', { maxArgs: 2 }],
    },
  },
  {
    files: ['bin/*.js', 'eslint.config.js', 'bench/**/*.js', 'scripts/**/*.js'],
    ...tseslint.configs.disableTypeChecked,
  },
  prettier,
);
