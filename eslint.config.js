// typescript-eslint's recommended rules, type-aware, over everything TypeScript and the bench scripts.
import js from '@eslint/js'
import globals from 'globals'
import tseslint from 'typescript-eslint'

export default tseslint.config(
  {ignores: ['dist/', 'node_modules/', 'test/fixtures/', 'assets/']},
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    languageOptions: {globals: globals.node},
    rules: {
      '@typescript-eslint/no-unused-vars': ['error', {argsIgnorePattern: '^_', varsIgnorePattern: '^_', caughtErrors: 'none'}],
      // Errors carry their cause; an empty catch says in a comment why the failure is expected.
      'no-empty': ['error', {allowEmptyCatch: true}],
    },
  },
  {
    // CommonJS on purpose (bin/run.cjs says why): require is how it loads.
    files: ['**/*.cjs'],
    languageOptions: {sourceType: 'commonjs'},
    rules: {'@typescript-eslint/no-require-imports': 'off'},
  },
)
